/**
 * The NetworkPolicies of dist/ enforced on the live cluster (kube-router's firewall, started by
 * scripts/local-cluster/up.sh): with every mesh policy of the shop namespace removed, so that its
 * sidecars accept plaintext and authorize everything, a pod that is not a caller of
 * payment-service still cannot connect to it, by its Service or its pod IP, while a pod wearing
 * the labels of its caller (order-service) gets answers. `meshward decide`, told the same pods,
 * must say the same of each. The mesh policies are put back before the test ends. And the
 * sidecar's own ports, outside every AuthorizationPolicy, are closed to that caller too.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decision } from '../../../policies/engine/index.js';
import { distObjects, type KubeObject } from '../components/dist.js';
import {
  curlFromProbe,
  kubectl,
  kubectlJson,
  removeProbeOwners,
  requireLocalCluster,
  restore,
  startProbe,
  until,
} from '../components/local-cluster.js';
import { decideWithCli } from '../components/mesh-decide.js';

/** What "the mesh policies" of a namespace are: every Istio security object in it. */
const MESH_POLICY_KINDS = ['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication'];

const TARGET = { namespace: 'shop', app: 'payment-service' };

/** pilot-agent (merged metrics, app probes), its health port, Envoy's Prometheus stats. */
const SIDECAR_PORTS = [15020, 15021, 15090];

interface Probe {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Record<string, string>;
}

function workloadLabels(namespace: string, name: string): Record<string, string> {
  const deployment = distObjects().find(
    (o) =>
      o.kind === 'Deployment' && o.metadata.name === name && o.metadata.namespace === namespace,
  ) as
    | (KubeObject & { spec: { template: { metadata: { labels: Record<string, string> } } } })
    | undefined;
  if (deployment === undefined) throw new Error(`dist/ has no Deployment ${namespace}/${name}`);
  return deployment.spec.template.metadata.labels;
}

/** Probe pods without sidecars: the caller (order-service's labels, never an endpoint) and two that are not. */
const caller: Probe = {
  name: 'meshward-np-caller',
  namespace: 'shop',
  labels: workloadLabels('shop', 'order-service'),
};
const strangers: Probe[] = [
  { name: 'meshward-np-stranger', namespace: 'shop', labels: { app: 'meshward-np-stranger' } },
  { name: 'meshward-np-outsider', namespace: 'default', labels: { app: 'meshward-np-outsider' } },
];

const removed = distObjects().filter(
  (o) => MESH_POLICY_KINDS.includes(o.kind) && o.metadata.namespace === TARGET.namespace,
);

/**
 * No connection: refused (kube-router answers ICMP port unreachable, which the kernel rate-limits,
 * so a SYN may also go unanswered until curl gives up), never an HTTP status or a reset.
 */
const unreachable = (r: { code: string; exit: number }) =>
  r.code === '000' && (r.exit === 7 || r.exit === 28);

function targetPodIp(): string {
  const list = kubectlJson(['-n', TARGET.namespace, 'get', 'pods', '-l', `app=${TARGET.app}`]) as {
    items: { status: { podIP?: string; phase?: string } }[];
  };
  const ip = list.items.find((p) => p.status.phase === 'Running')?.status.podIP;
  if (ip === undefined) throw new Error(`no running ${TARGET.app} pod`);
  return ip;
}

/** `meshward decide` on dist/ without the removed mesh policies, for a plaintext request from each probe. */
function decideWithout(probes: readonly Probe[]): Decision[] {
  const work = mkdtempSync(join(tmpdir(), 'meshward-np-'));
  try {
    const key = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const gone = new Set(removed.map(key));
    const keep = distObjects().filter((o) => !gone.has(key(o)));
    writeFileSync(
      join(work, 'dist-without-mesh-policies.yaml'),
      keep.map((o) => `---\n${JSON.stringify(o)}\n`).join(''),
    );
    const labels = workloadLabels(TARGET.namespace, TARGET.app);
    return decideWithCli(
      probes.map((probe) => ({
        id: probe.name,
        destination: { namespace: TARGET.namespace, labels, port: 8080 },
        source: { mtls: false, pod: { namespace: probe.namespace, labels: probe.labels } },
        method: 'GET',
        path: '/api/payments/1',
      })),
      join(work, 'dist-without-mesh-policies.yaml'),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

beforeAll(() => {
  requireLocalCluster();
  if (removed.length === 0) throw new Error(`dist/ has no mesh policy in ${TARGET.namespace}`);
  for (const probe of [caller, ...strangers]) {
    startProbe({ ...probe, inject: false, endpoint: false });
  }
});

afterAll(() => {
  removeProbeOwners();
  for (const probe of [caller, ...strangers]) {
    kubectl([
      '-n',
      probe.namespace,
      'delete',
      'pod',
      probe.name,
      '--wait=false',
      '--ignore-not-found',
    ]);
  }
});

describe('NetworkPolicies on the live cluster', () => {
  test('GIVEN the mesh policies of shop removed WHEN pods without sidecars connect to payment-service THEN the one with its caller’s labels gets answers, the others cannot connect (Service or pod IP), and meshward decide says the same of each', async () => {
    const service = `http://${TARGET.app}.${TARGET.namespace}.svc.cluster.local:8080/api/payments/1`;
    // Before: mTLS resets the caller's plaintext connection; the NetworkPolicy refuses the others'.
    const before = curlFromProbe(caller.namespace, caller.name, service);
    expect({ ...before, unreachable: unreachable(before) }).toMatchObject({
      code: '000',
      unreachable: false,
    });
    for (const s of strangers)
      expect(unreachable(curlFromProbe(s.namespace, s.name, service))).toBe(true);
    try {
      for (const o of removed) {
        kubectl(['-n', TARGET.namespace, 'delete', o.kind.toLowerCase(), o.metadata.name]);
      }
      const answered = await until(
        () => curlFromProbe(caller.namespace, caller.name, service),
        (r) => r.code !== '000',
        30_000,
      );
      // Without the mesh policies the sidecar serves plaintext and authorizes everything: the
      // application answers (whatever it says).
      expect(answered.code).toMatch(/^[1-5]\d\d$/);
      const direct = `http://${targetPodIp()}:8080/api/payments/1`;
      for (const s of strangers) {
        for (const url of [service, direct]) {
          const answer = curlFromProbe(s.namespace, s.name, url);
          expect({ probe: s.name, url, answer, unreachable: unreachable(answer) }).toEqual({
            probe: s.name,
            url,
            answer,
            unreachable: true,
          });
        }
      }
      const decisions = decideWithout([caller, ...strangers]);
      expect(decisions.map((d) => [d.id, d.outcome])).toEqual([
        [caller.name, 'allow'],
        ...strangers.map((s) => [s.name, 'unreachable']),
      ]);
    } finally {
      for (const o of removed) restore(o.kind, TARGET.namespace, o.metadata.name);
    }
    // Restored: the caller's plaintext is reset again.
    const reset = await until(
      () => curlFromProbe(caller.namespace, caller.name, service),
      (r) => r.code === '000' && !unreachable(r),
      30_000,
    );
    expect({ ...reset, unreachable: unreachable(reset) }).toMatchObject({
      code: '000',
      unreachable: false,
    });
  }, 240_000);

  test('GIVEN the sidecar’s own ports, which no AuthorizationPolicy covers (red-team L9) WHEN even payment-service’s caller connects to them on the pod IP THEN it cannot, while the service port connects (and is reset by mTLS); meshward decide says the same', () => {
    const ip = targetPodIp();
    const ports = [8080, ...SIDECAR_PORTS];
    const live = ports.map((port) => {
      const answer = curlFromProbe(caller.namespace, caller.name, `http://${ip}:${String(port)}/`);
      return [port, unreachable(answer) ? 'unreachable' : `connected ${answer.code}`];
    });
    expect(live).toEqual([
      [8080, 'connected 000'],
      ...SIDECAR_PORTS.map((port) => [port, 'unreachable']),
    ]);
    const labels = workloadLabels(TARGET.namespace, TARGET.app);
    const decisions = decideWithCli(
      ports.map((port) => ({
        id: port,
        destination: { namespace: TARGET.namespace, labels, port },
        source: { mtls: false, pod: { namespace: caller.namespace, labels: caller.labels } },
        method: 'GET',
        path: '/',
      })),
    );
    expect(decisions.map((d) => [d.id, d.outcome])).toEqual([
      [8080, 'reset'],
      ...SIDECAR_PORTS.map((port) => [port, 'unreachable']),
    ]);
  });
});
