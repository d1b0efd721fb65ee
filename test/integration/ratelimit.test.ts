/**
 * The Envoy ratelimit service + Redis enforce limits through their real /json API, first for a
 * fixed config (proves the components), then for the config synthesized into dist/ (a ConfigMap
 * labelled app: ratelimit).
 */
import { parse } from 'yaml';
import { objectsOfKind } from './components/dist.js';
import {
  startRateLimit,
  type DescriptorEntry,
  type RateLimitService,
} from './components/ratelimit.js';

interface Descriptor {
  readonly key: string;
  readonly value?: string;
  readonly rate_limit?: {
    readonly unit: string;
    readonly requests_per_unit: number;
    readonly unlimited?: boolean;
  };
  readonly descriptors?: readonly Descriptor[];
}

interface LimitCase {
  readonly domain: string;
  readonly entries: DescriptorEntry[];
  readonly limit: number;
  readonly unit: string;
}

/** Every leaf descriptor with a finite limit, as the entries a request must carry to hit it. */
function limitCases(
  domain: string,
  descriptors: readonly Descriptor[],
  parents: DescriptorEntry[] = [],
): LimitCase[] {
  return descriptors.flatMap((descriptor) => {
    const entries = [
      ...parents,
      { key: descriptor.key, value: descriptor.value ?? 'meshward-integration' },
    ];
    const own: LimitCase[] =
      descriptor.rate_limit !== undefined && descriptor.rate_limit.unlimited !== true
        ? [
            {
              domain,
              entries,
              limit: descriptor.rate_limit.requests_per_unit,
              unit: descriptor.rate_limit.unit,
            },
          ]
        : [];
    return [...own, ...limitCases(domain, descriptor.descriptors ?? [], entries)];
  });
}

const WINDOW_MS = new Map([
  ['second', 1000],
  ['minute', 60_000],
  ['hour', 3_600_000],
  ['day', 86_400_000],
]);

/**
 * The service counts in fixed windows aligned to the clock (a new count every whole
 * second for `unit: second`): when less than 2 s of the current window remain, waits for
 * the next one, so that a burst is never split across two windows.
 */
async function startOfWindow(unit: string): Promise<void> {
  const windowMs = WINDOW_MS.get(unit);
  if (windowMs === undefined) throw new Error(`unknown rate-limit unit '${unit}'`);
  const remaining = windowMs - (Date.now() % windowMs);
  if (remaining < 2000) await new Promise((resolve) => setTimeout(resolve, remaining + 10));
}

/** Sends limit + 1 requests in one window: all but the last must be OK, the last OVER_LIMIT. */
async function verdicts(service: RateLimitService, limitCase: LimitCase): Promise<string[]> {
  await startOfWindow(limitCase.unit);
  const answers: string[] = [];
  for (let i = 0; i <= limitCase.limit; i++)
    answers.push(await service.check(limitCase.domain, limitCase.entries));
  return answers;
}

const expected = (limit: number) => [...Array<string>(limit).fill('OK'), 'OVER_LIMIT'];

describe('Envoy ratelimit service + Redis', () => {
  test('GIVEN a config of 3 requests per hour WHEN 4 requests arrive THEN 3 are OK and the 4th is OVER_LIMIT', async () => {
    const service = await startRateLimit({
      'fixture.yaml':
        'domain: fixture\ndescriptors:\n  - key: client\n    rate_limit:\n      unit: hour\n      requests_per_unit: 3\n',
    });
    try {
      const answers = await verdicts(service, {
        domain: 'fixture',
        entries: [{ key: 'client', value: 'a' }],
        limit: 3,
        unit: 'hour',
      });

      expect(answers).toEqual(expected(3));
      expect(await service.check('fixture', [{ key: 'client', value: 'b' }])).toBe('OK');
    } finally {
      await service.stop();
    }
  });

  test('GIVEN the rate-limit ConfigMap synthesized into dist/ WHEN each limited descriptor is hit limit+1 times THEN the last request is OVER_LIMIT', async () => {
    const configMaps = objectsOfKind('ConfigMap').filter(
      (cm) => cm.metadata.labels?.app === 'ratelimit',
    );
    if (configMaps.length === 0) {
      throw new Error(
        'dist/ has no ConfigMap labelled app: ratelimit (the gateway rate-limit config is not synthesized yet)',
      );
    }
    const configs: Record<string, string> = {};
    for (const cm of configMaps) {
      for (const [file, text] of Object.entries(
        (cm.data as Record<string, string> | undefined) ?? {},
      )) {
        configs[file] = text;
      }
    }
    const cases = Object.values(configs).flatMap((text) => {
      const config = parse(text) as { domain: string; descriptors?: Descriptor[] };
      return limitCases(config.domain, config.descriptors ?? []);
    });
    expect(cases.length).toBeGreaterThan(0);

    const service = await startRateLimit(configs);
    try {
      for (const limitCase of cases) {
        expect({ case: limitCase, answers: await verdicts(service, limitCase) }).toEqual({
          case: limitCase,
          answers: expected(limitCase.limit),
        });
      }
    } finally {
      await service.stop();
    }
  });
});
