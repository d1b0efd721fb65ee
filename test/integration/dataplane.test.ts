/**
 * `meshward decide` against a real data plane: istiod's own config generator (meshward-xds,
 * the pinned istio.io/istio in-process) configures upstream Envoy 1.40, one per proxy in its
 * own network namespace with istio-iptables' capture; every request of the corpus goes to both.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  formatDisagreement,
  type VerifyReport,
  verifyDataplane,
} from '../../policies/dataplane/run.js';
import { INSTALLED_MESH } from '../../policies/engine/mesh.js';
import { CORPUS_FAMILIES } from '../support/dataplane.js';
import { runDir } from './components/process.js';
import { distDir, repoRoot } from './components/tools.js';

/** A fixed seed: a failure here reproduces with `meshward verify-dataplane --seed`. */
const SEED = Number(process.env.MESHWARD_DATAPLANE_SEED ?? '20261201');
const cases = join(repoRoot, 'test/integration/dataplane');
const fixtures = join(repoRoot, 'test/engine/fixtures');

const summary = (name: string, r: VerifyReport) =>
  `${name}: ${String(r.compared)} requests on ${String(r.proxies)} Envoys, ${String(r.disagreements.length)} disagree, update_rejected ${String(r.rejected)}, seed ${String(r.seed)}, setup ${r.seconds.setup.toFixed(1)} s, requests ${r.seconds.requests.toFixed(1)} s, total ${r.seconds.total.toFixed(1)} s\n`;

const run = (
  name: string,
  manifests: string[],
  extra: Partial<Parameters<typeof verifyDataplane>[0]> = {},
) =>
  verifyDataplane({
    manifests,
    seed: SEED,
    size: 1000,
    work: join(runDir, `dataplane-${name}`),
    progress: (line) => process.stdout.write(`[${name}] ${line}\n`),
    ...extra,
  });

describe('decide against istiod-configured Envoy', () => {
  test('GIVEN dist/ and its known-disagreement cases WHEN ≥ 3,000 requests go to Envoy and to decide THEN every answer agrees and no config is rejected', async () => {
    const report = await run('dist', [distDir], {
      size: 3000,
      requests: join(cases, 'dist.requests.jsonl'),
    });
    process.stdout.write(summary('dist', report));

    expect(report.disagreements.map(formatDisagreement)).toEqual([]);
    expect(report.rejected).toBe(0);
    expect(report.compared).toBeGreaterThanOrEqual(3000);
    expect(report.proxies).toBe(7);
    // every kind of case is in, the seven disagreements once known among them
    for (const family of CORPUS_FAMILIES) {
      expect(report.byFamily[family] ?? 0).toBeGreaterThan(family === 'matrix' ? 1500 : 50);
    }
    for (const family of [
      'known:foreign-trust-domain',
      'known:no-sni',
      'known:sidecar-ports',
      'known:normalization',
      'known:template-brackets',
    ]) {
      expect(report.byFamily[family] ?? 0).toBeGreaterThan(0);
    }
  }, 600_000);

  test('GIVEN the engine test fixtures WHEN their corpus is compared THEN every answer agrees', async () => {
    const report = await run('engine-fixtures', [
      join(fixtures, 'shop.yaml'),
      join(fixtures, 'bad-lint.yaml'),
    ]);
    process.stdout.write(summary('engine fixtures', report));

    expect(report.disagreements.map(formatDisagreement)).toEqual([]);
    expect(report.rejected).toBe(0);
    expect(report.compared).toBeGreaterThanOrEqual(1000);
  }, 300_000);

  test('GIVEN a folder of hand-written Istio YAML WHEN `meshward verify-dataplane` runs on it THEN it exits 0 and says 0 disagree', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(repoRoot, 'policies/engine/bin/meshward.js'),
        'verify-dataplane',
        '--manifests',
        join(cases, 'handwritten'),
        '--requests',
        join(cases, 'handwritten.requests.jsonl'),
        '--seed',
        String(SEED),
        '--size',
        '1000',
        '--work',
        join(runDir, 'dataplane-handwritten'),
      ],
      { encoding: 'utf8', timeout: 300_000 },
    );
    process.stdout.write(r.stdout);

    expect(r.stderr).toContain(`seed ${String(SEED)}`);
    expect(r.stdout).toMatch(
      /^1014 requests compared .*known:canonicalized 6.* 0 disagree; update_rejected 0;/m,
    );
    expect(r.status).toBe(0);
  }, 300_000);

  test('GIVEN a decide told the wrong path normalization WHEN compared with Envoy THEN the harness reports the disagreements, each with both answers', async () => {
    const report = await run('wrong-mesh', [join(cases, 'handwritten')], {
      size: 300,
      requests: join(cases, 'handwritten.requests.jsonl'),
      decideMesh: { ...INSTALLED_MESH, pathNormalization: 'BASE' },
    });
    const lines = report.disagreements.map(formatDisagreement);
    process.stdout.write(`${summary('wrong mesh', report)}${lines.slice(0, 3).join('\n')}\n`);

    const encoded = report.disagreements.find((d) => d.case.path === '/accounts/a%2Fb');
    expect(encoded?.comparison).toMatchObject({ envoy: 'deny', decide: 'allow' });
    expect(lines.find((l) => l.includes('/accounts/a%2Fb'))).toMatch(
      /envoy: {2}deny \(status 403\)[\s\S]*decide: allow/,
    );
  }, 300_000);
});
