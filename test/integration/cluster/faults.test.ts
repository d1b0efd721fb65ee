/**
 * Faults on the live mesh: istiod gone, a sidecar's Envoy killed, a pod deleted, each while
 * requests keep coming. Nothing the mesh denies may become allowed (fail closed), no request may
 * be answered by a workload without its sidecar, and what is allowed must come back.
 */
import { readFileSync } from 'node:fs';
import { GatewayClient, secretValue } from '../components/gateway-client.js';
import {
  containerPids,
  kubectl,
  pods,
  requireLocalCluster,
  startProbe,
  statusFromProbe,
} from '../components/local-cluster.js';

let userToken = '';
let client: GatewayClient;

interface Probe {
  readonly name: string;
  /** statuses this probe may ever see */
  readonly allowed: RegExp;
  readonly run: () => string;
}

/**
 * The status an internet client from the office address (inside the gateway's allowlist) gets
 * for PATH at the gateway's NodePort ("000" when nothing answers within 3 s).
 */
function gatewayStatus(path: string, token?: string): string {
  const args = ['-o', '/dev/null', '-m', '3', '-w', '%{http_code}'];
  if (token !== undefined) args.push('-H', `Authorization: Bearer ${token}`);
  return client.curl([...args, `https://shop.example.com${path}`]).trim();
}

const probes = (): Probe[] => [
  {
    name: 'no token on /api/orders at the gateway',
    allowed: /^(403|000|503)$/,
    run: () => gatewayStatus('/api/orders'),
  },
  {
    name: 'USER on /api/admin/stats at the gateway',
    allowed: /^(403|000|503)$/,
    run: () => gatewayStatus('/api/admin/stats', userToken),
  },
  {
    name: 'plaintext pod on order-service (in-cluster)',
    allowed: /^(000)+$|^(403|503)$/,
    run: () =>
      statusFromProbe(
        'default',
        'meshward-faults-plaintext',
        'http://order-service.shop.svc.cluster.local:8080/api/public/catalog',
      ),
  },
];

interface Observation {
  readonly probe: string;
  readonly status: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs every probe once a second for `seconds`, while `during` runs once at the start. */
async function probeWhile(seconds: number, during: () => void): Promise<Observation[]> {
  const seen: Observation[] = [];
  during();
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    for (const probe of probes()) seen.push({ probe: probe.name, status: probe.run() });
    await sleep(1000);
  }
  return seen;
}

function forbidden(seen: readonly Observation[]): Observation[] {
  const rules = new Map(probes().map((p) => [p.name, p.allowed]));
  return seen.filter((o) => !(rules.get(o.probe)?.test(o.status) ?? false));
}

/** Waits until the public catalog answers 200 at the gateway again (what is allowed comes back). */
async function untilServedAgain(limitMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < limitMs) {
    if (gatewayStatus('/api/public/catalog') === '200') return Date.now() - started;
    await sleep(1000);
  }
  throw new Error(`the public catalog did not answer 200 within ${String(limitMs / 1000)}s`);
}

beforeAll(async () => {
  requireLocalCluster();
  client = new GatewayClient();
  userToken = client.pkceToken(
    'alice',
    secretValue('auth', 'keycloak-demo-users', 'alice-password'),
    'shop-web',
  );
  startProbe({ name: 'meshward-faults-plaintext', namespace: 'default', inject: false });
  await untilServedAgain(60_000);
}, 240_000);

afterAll(() => {
  client.close();
  kubectl([
    '-n',
    'default',
    'delete',
    'pod',
    'meshward-faults-plaintext',
    '--wait=false',
    '--ignore-not-found',
  ]);
});

describe('faults on the live mesh fail closed', () => {
  test('GIVEN the probes WHEN nothing is wrong THEN each sees only what it may (the baseline)', async () => {
    expect(userToken).not.toBe('');
    const seen = await probeWhile(3, () => undefined);
    expect(seen.length).toBeGreaterThan(0);
    expect(forbidden(seen)).toEqual([]);
  }, 60_000);

  test('GIVEN istiod scaled to zero for 20 s WHEN requests keep coming THEN nothing denied is allowed, and with istiod back the allowed route is served', async () => {
    const seen = await probeWhile(20, () => {
      kubectl(['-n', 'istio-system', 'scale', 'deployment/istiod', '--replicas=0']);
    });
    kubectl(['-n', 'istio-system', 'scale', 'deployment/istiod', '--replicas=1']);
    kubectl(['-n', 'istio-system', 'rollout', 'status', 'deployment/istiod', '--timeout=180s']);
    expect(forbidden(seen)).toEqual([]);
    expect(gatewayStatus('/api/public/catalog')).toBe('200');
  }, 300_000);

  test("GIVEN order-service's Envoy killed WHEN requests keep coming THEN nothing denied is allowed and order-service is served again once its sidecar is back", async () => {
    const pod = pods('shop', 'app=order-service').at(0);
    const proxy = [
      ...(pod?.status.initContainerStatuses ?? []),
      ...(pod?.status.containerStatuses ?? []),
    ].find((s) => s.name === 'istio-proxy');
    if (proxy?.containerID === undefined)
      throw new Error('order-service has no running istio-proxy');
    const envoy = containerPids(proxy.containerID).filter((pid) =>
      readFileSync(`/proc/${String(pid)}/comm`, 'utf8').startsWith('envoy'),
    );
    expect(envoy.length).toBeGreaterThan(0);
    const seen = await probeWhile(15, () => {
      for (const pid of envoy) process.kill(pid, 'SIGKILL');
    });
    expect(forbidden(seen)).toEqual([]);
    kubectl(['-n', 'shop', 'rollout', 'status', 'deployment/order-service', '--timeout=180s']);
    await untilServedAgain(120_000);
  }, 300_000);

  test('GIVEN the order-service pod deleted WHEN requests keep coming THEN nothing denied is allowed and its replacement serves only with its sidecar', async () => {
    const before = pods('shop', 'app=order-service').map((p) => p.metadata.name);
    const seen = await probeWhile(20, () => {
      kubectl(['-n', 'shop', 'delete', 'pod', ...before, '--wait=false']);
    });
    expect(forbidden(seen)).toEqual([]);
    kubectl(['-n', 'shop', 'rollout', 'status', 'deployment/order-service', '--timeout=180s']);
    await untilServedAgain(120_000);
    const after = pods('shop', 'app=order-service').filter(
      (p) => !before.includes(p.metadata.name),
    );
    expect(after.length).toBeGreaterThan(0);
    for (const replacement of after) {
      const names = (replacement.spec.initContainers ?? []).map((c) => c.name);
      expect(names).toContain('istio-proxy');
    }
  }, 300_000);
});
