/**
 * The doctor's checks against an in-memory cluster built from dist/: a faithful deploy has no
 * finding; each way of silently breaking the security model gives the finding that names it.
 */
import { join } from 'node:path';
import {
  type ClusterReader,
  DoctorConfigError,
  type Finding,
  type IstioKind,
  type JwksProbe,
  type KubeObject,
  containsFields,
  doctorMain,
  formatTable,
  loadDist,
  runDoctor,
} from '../../policies/doctor/index.js';
import { DIST } from '../support/manifests.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const clone = <T>(value: T): T => structuredClone(value);

/** A fake cluster: what a faithful `kubectl apply` of dist/ plus running pods would show. */
class FakeCluster implements ClusterReader {
  public readonly target = "context 'fake' (https://127.0.0.1:6443)";
  public namespaces: KubeObject[];
  public istio: KubeObject[];
  public deployments: KubeObject[];
  public pods: KubeObject[];
  public missingCrds = new Set<string>();
  public unreachableJwks = new Set<string>();
  public probed: string[] = [];

  public constructor(dist: readonly KubeObject[]) {
    const istioGroups = /^(security|networking)\.istio\.io\//;
    this.namespaces = clone(dist.filter((o) => o.kind === 'Namespace'));
    this.istio = clone(dist.filter((o) => istioGroups.test(o.apiVersion)));
    this.deployments = clone(dist.filter((o) => o.kind === 'Deployment'));
    this.pods = this.deployments.map((deployment) => podOf(deployment, true));
  }

  public listNamespaces() {
    return Promise.resolve(this.namespaces);
  }
  public listPods(namespace: string) {
    return Promise.resolve(this.pods.filter((p) => p.metadata.namespace === namespace));
  }
  public listDeployments(namespace: string) {
    return Promise.resolve(this.deployments.filter((d) => d.metadata.namespace === namespace));
  }
  public listIstio(kind: IstioKind) {
    if (this.missingCrds.has(kind.plural)) return Promise.resolve(undefined);
    return Promise.resolve(this.istio.filter((o) => o.kind === kind.kind));
  }
  public probeJwks(uri: string): Promise<JwksProbe> {
    this.probed.push(uri);
    return Promise.resolve(
      this.unreachableJwks.has(uri) ? { ok: false, reason: 'ECONNREFUSED' } : { ok: true },
    );
  }

  public find(kind: string, namespace: string, name: string): Mutable<KubeObject> {
    const found = [...this.istio, ...this.deployments].find(
      (o) => o.kind === kind && o.metadata.namespace === namespace && o.metadata.name === name,
    );
    if (found === undefined) throw new Error(`fixture has no ${kind} ${namespace}/${name}`);
    return found;
  }
}

function podOf(deployment: KubeObject, withProxy: boolean): KubeObject {
  const template = (deployment.spec as { template: { spec: { containers: { name: string }[] } } })
    .template;
  const containers = template.spec.containers.map((c) => ({ name: c.name }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${deployment.metadata.name}-7d9f-abcde`,
      namespace: deployment.metadata.namespace ?? '',
    },
    spec: { containers: withProxy ? [...containers, { name: 'istio-proxy' }] : containers },
    status: { phase: 'Running' },
  };
}

const dist = loadDist(DIST);
const codes = (findings: readonly Finding[]) =>
  findings.map((f) => `${f.code} ${f.namespace} ${f.object}`);

function policiesIn(cluster: FakeCluster, kind: string, namespace: string) {
  return cluster.istio.filter((o) => o.kind === kind && o.metadata.namespace === namespace);
}

describe('runDoctor', () => {
  test('a cluster that matches dist/ has no finding', async () => {
    // GIVEN a faithful deploy of dist/
    const cluster = new FakeCluster(dist);
    // WHEN the doctor runs
    const report = await runDoctor({ reader: cluster, dist });
    // THEN nothing is reported, every mesh namespace was seen and every issuer's JWKS probed
    expect(report.findings).toEqual([]);
    expect(report.meshNamespaces).toEqual(expect.arrayContaining(['auth', 'shop']));
    expect(cluster.probed.length).toBeGreaterThan(0);
  });

  test('reports a pod in a mesh namespace without istio-proxy', async () => {
    const cluster = new FakeCluster(dist);
    const orders = cluster.find('Deployment', 'shop', 'order-service');
    cluster.pods.push(podOf(orders, false));
    const report = await runDoctor({ reader: cluster, dist });
    expect(codes(report.findings)).toEqual(['missing-sidecar shop Pod/order-service-7d9f-abcde']);
  });

  test('accepts a native sidecar (istio-proxy as an init container) and ignores finished pods', async () => {
    const cluster = new FakeCluster(dist);
    const orders = cluster.find('Deployment', 'shop', 'order-service');
    const native = podOf(orders, false);
    (native.spec as { initContainers?: { name: string }[] }).initContainers = [
      { name: 'istio-proxy' },
    ];
    const finished = { ...podOf(orders, false), status: { phase: 'Succeeded' } };
    cluster.pods.push(native, finished);
    expect((await runDoctor({ reader: cluster, dist })).findings).toEqual([]);
  });

  test('reports a mesh namespace whose PeerAuthentication is PERMISSIVE', async () => {
    const cluster = new FakeCluster(dist);
    const namespaceWide = policiesIn(cluster, 'PeerAuthentication', 'shop').find(
      (pa) => (pa.spec as { selector?: unknown }).selector === undefined,
    );
    expect(namespaceWide).toBeDefined();
    (namespaceWide?.spec as { mtls: { mode: string } }).mtls.mode = 'PERMISSIVE';
    const report = await runDoctor({ reader: cluster, dist });
    expect(codes(report.findings)).toContain('no-strict-mtls shop Namespace/shop');
    expect(codes(report.findings)).toContain(
      `drift-changed shop PeerAuthentication/${namespaceWide?.metadata.name ?? ''}`,
    );
  });

  test('reports a mesh namespace without default deny, and the missing object as drift', async () => {
    const cluster = new FakeCluster(dist);
    cluster.istio = cluster.istio.filter(
      (o) =>
        !(
          o.kind === 'AuthorizationPolicy' &&
          o.metadata.namespace === 'shop' &&
          o.metadata.name === 'default-deny'
        ),
    );
    const report = await runDoctor({ reader: cluster, dist });
    expect(codes(report.findings)).toEqual([
      'no-default-deny shop Namespace/shop',
      'drift-missing shop AuthorizationPolicy/default-deny',
    ]);
  });

  test('a dry-run default deny does not count as default deny', async () => {
    const cluster = new FakeCluster(dist);
    const deny = cluster.find('AuthorizationPolicy', 'shop', 'default-deny');
    deny.metadata = { ...deny.metadata, annotations: { 'istio.io/dry-run': 'true' } };
    const report = await runDoctor({ reader: cluster, dist });
    expect(codes(report.findings)).toContain('no-default-deny shop Namespace/shop');
  });

  test('a namespace without any PeerAuthentication is accepted only under a mesh-wide STRICT', async () => {
    const cluster = new FakeCluster(dist);
    cluster.istio = cluster.istio.filter(
      (o) => !(o.kind === 'PeerAuthentication' && o.metadata.namespace === 'shop'),
    );
    const without = await runDoctor({ reader: cluster, dist, skipJwks: true });
    expect(codes(without.findings)).toContain('no-strict-mtls shop Namespace/shop');
    cluster.istio.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'default', namespace: 'istio-system' },
      spec: { mtls: { mode: 'STRICT' } },
    });
    const withMeshWide = await runDoctor({ reader: cluster, dist, skipJwks: true });
    expect(codes(withMeshWide.findings)).not.toContain('no-strict-mtls shop Namespace/shop');
  });

  test('reports a changed rule of an AuthorizationPolicy with the field that differs', async () => {
    const cluster = new FakeCluster(dist);
    const policy = policiesIn(cluster, 'AuthorizationPolicy', 'shop').find(
      (o) => o.metadata.name !== 'default-deny',
    ) as Mutable<KubeObject>;
    const spec = policy.spec as { rules: unknown[] };
    spec.rules = [{}];
    const report = await runDoctor({ reader: cluster, dist });
    const changed = report.findings.filter((f) => f.code === 'drift-changed');
    expect(changed).toHaveLength(1);
    expect(changed[0]?.message).toMatch(/spec\.rules/);
  });

  test('ignores fields the server adds (metadata, status, defaults)', async () => {
    const cluster = new FakeCluster(dist);
    cluster.istio = cluster.istio.map((o) => ({
      ...o,
      metadata: { ...o.metadata, uid: 'u-1', resourceVersion: '42', generation: 1 },
      status: { observedGeneration: 1 },
    }));
    expect((await runDoctor({ reader: cluster, dist })).findings).toEqual([]);
  });

  test('reports an extra policy in a managed namespace, not in an unmanaged one', async () => {
    const cluster = new FakeCluster(dist);
    const extra = (namespace: string): KubeObject => ({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'allow-all', namespace },
      spec: { rules: [{}] },
    });
    cluster.istio.push(extra('shop'), extra('someone-else'));
    const report = await runDoctor({ reader: cluster, dist });
    expect(codes(report.findings)).toEqual(['drift-extra shop AuthorizationPolicy/allow-all']);
  });

  test('reports an unreachable JWKS on every RequestAuthentication using it', async () => {
    const cluster = new FakeCluster(dist);
    const ras = cluster.istio.filter((o) => o.kind === 'RequestAuthentication');
    const uri = (ras[0]?.spec as { jwtRules: { jwksUri: string }[] }).jwtRules[0]?.jwksUri ?? '';
    cluster.unreachableJwks.add(uri);
    const report = await runDoctor({ reader: cluster, dist });
    const unreachable = report.findings.filter((f) => f.code === 'jwks-unreachable');
    expect(unreachable.length).toBeGreaterThan(0);
    expect(unreachable[0]?.message).toContain(uri);
    expect(unreachable[0]?.message).toContain('ECONNREFUSED');
  });

  test('GIVEN istiod runs with PILOT_JWT_ENABLE_REMOTE_JWKS=envoy WHEN the doctor runs THEN the in-cluster JWKS is not probed in plaintext (STRICT would refuse it, as it refuses every caller but the verifying proxies) and the report says why', async () => {
    const cluster = new FakeCluster(dist);
    const ras = cluster.istio.filter((o) => o.kind === 'RequestAuthentication');
    const uri = (ras[0]?.spec as { jwtRules: { jwksUri: string }[] }).jwtRules[0]?.jwksUri ?? '';
    cluster.unreachableJwks.add(uri);
    cluster.deployments.push({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'istiod', namespace: 'istio-system' },
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'discovery',
                env: [{ name: 'PILOT_JWT_ENABLE_REMOTE_JWKS', value: 'envoy' }],
              },
            ],
          },
        },
      },
    });
    const report = await runDoctor({ reader: cluster, dist });
    expect(cluster.probed).toEqual([]);
    expect(report.jwksFetchedByProxies).toEqual([uri]);
    expect(report.findings.filter((f) => f.code === 'jwks-unreachable')).toEqual([]);
    expect(formatTable(report)).toContain(`JWKS ${uri}: fetched by the proxies over mTLS`);
  });

  test('--skip-jwks fetches nothing', async () => {
    const cluster = new FakeCluster(dist);
    cluster.unreachableJwks = new Set(['x']);
    await runDoctor({ reader: cluster, dist, skipJwks: true });
    expect(cluster.probed).toEqual([]);
  });

  test('reports a deployment that only the default deny selects', async () => {
    const cluster = new FakeCluster(dist);
    const orders = cluster.find('Deployment', 'shop', 'order-service');
    const rogue: Mutable<KubeObject> = clone(orders);
    rogue.metadata = { name: 'rogue', namespace: 'shop' };
    (
      rogue.spec as { template: { metadata: { labels: Record<string, string> } } }
    ).template.metadata.labels = { app: 'rogue' };
    cluster.deployments.push(rogue);
    cluster.pods.push(podOf(rogue, true));
    const report = await runDoctor({ reader: cluster, dist });
    expect(codes(report.findings)).toEqual(['workload-unselected shop Deployment/rogue']);
  });

  test('a root-namespace policy with a matching selector selects a workload', async () => {
    const cluster = new FakeCluster(dist);
    const rogue: Mutable<KubeObject> = clone(cluster.find('Deployment', 'shop', 'order-service'));
    rogue.metadata = { name: 'rogue', namespace: 'shop' };
    (
      rogue.spec as { template: { metadata: { labels: Record<string, string> } } }
    ).template.metadata.labels = { app: 'rogue' };
    cluster.deployments.push(rogue);
    cluster.istio.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'rogue-callers', namespace: 'istio-system' },
      spec: { selector: { matchLabels: { app: 'rogue' } }, rules: [{}] },
    });
    const report = await runDoctor({ reader: cluster, dist, skipJwks: true });
    expect(codes(report.findings)).not.toContain('workload-unselected shop Deployment/rogue');
  });

  test('throws when a security CRD is missing', async () => {
    const cluster = new FakeCluster(dist);
    cluster.missingCrds.add('authorizationpolicies');
    await expect(runDoctor({ reader: cluster, dist })).rejects.toThrow(
      /authorizationpolicies\.security\.istio\.io is not installed/,
    );
  });

  test('a networking CRD that dist/ does not use may be absent', async () => {
    const cluster = new FakeCluster(dist);
    const unused = ['serviceentries', 'sidecars'].filter(
      (plural) =>
        !dist.some((o) => o.kind.toLowerCase() + (o.kind.endsWith('y') ? '' : 's') === plural),
    );
    unused.forEach((plural) => cluster.missingCrds.add(plural));
    await expect(runDoctor({ reader: cluster, dist })).resolves.toBeDefined();
  });

  test('throws when the dist folder is missing', () => {
    expect(() => loadDist(join(DIST, 'no-such-folder'))).toThrow(DoctorConfigError);
    expect(() => loadDist(join(DIST, 'no-such-folder'))).toThrow(/npm run synth/);
  });
});

describe('containsFields', () => {
  test('objects are compared as subsets, arrays element by element', () => {
    expect(containsFields({ a: { b: 1 } }, { a: { b: 1, c: 2 }, d: 3 })).toBe(true);
    expect(containsFields({ a: [1, 2] }, { a: [1, 2] })).toBe(true);
    expect(containsFields({ a: [1, 2] }, { a: [1, 2, 3] })).toBe(false);
    expect(containsFields({ a: 'x' }, {})).toBe(false);
    expect(containsFields({ a: {} }, { a: [] })).toBe(false);
  });
});

describe('doctorMain', () => {
  const capture = (cluster: ClusterReader | Error) => {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      io: {
        stdout: (t: string) => out.push(t),
        stderr: (t: string) => err.push(t),
        createReader: () => {
          if (cluster instanceof Error) throw cluster;
          return cluster;
        },
      },
    };
  };

  test('exit 0 and a "no findings" table on a faithful cluster', async () => {
    const { out, io } = capture(new FakeCluster(dist));
    expect(await doctorMain(['--dist', DIST], io)).toBe(0);
    expect(out.join('')).toContain('no findings');
  });

  test('exit 1 and the findings as JSON with --json', async () => {
    const cluster = new FakeCluster(dist);
    cluster.pods.push(podOf(cluster.find('Deployment', 'shop', 'order-service'), false));
    const { out, io } = capture(cluster);
    expect(await doctorMain(['--dist', DIST, '--json'], io)).toBe(1);
    const report = JSON.parse(out.join('')) as { findings: Finding[] };
    expect(report.findings.map((f) => f.code)).toEqual(['missing-sidecar']);
  });

  test('exit 2 with the message when the cluster cannot be reached', async () => {
    const { err, io } = capture(
      new DoctorConfigError("cannot reach the API server at context 'kind-x': ECONNREFUSED"),
    );
    expect(await doctorMain(['--dist', DIST], io)).toBe(2);
    expect(err.join('')).toContain('ECONNREFUSED');
  });

  test('rejects an unknown flag and a bad --jwks-timeout with exit 2', async () => {
    const first = capture(new FakeCluster(dist));
    expect(await doctorMain(['--bogus'], first.io)).toBe(2);
    expect(first.err.join('')).toContain('--bogus');
    const second = capture(new FakeCluster(dist));
    expect(await doctorMain(['--dist', DIST, '--jwks-timeout', 'soon'], second.io)).toBe(2);
    expect(second.err.join('')).toContain("'--jwks-timeout' (soon) must be a positive integer");
  });

  test('formatTable aligns the columns and counts the findings', () => {
    const table = formatTable({
      target: 't',
      meshNamespaces: ['shop'],
      findings: [
        { code: 'no-default-deny', namespace: 'shop', object: 'Namespace/shop', message: 'm1' },
        { code: 'drift-extra', namespace: 'auth', object: 'AuthorizationPolicy/x', message: 'm2' },
      ],
      jwksFetchedByProxies: [],
    });
    expect(table).toMatch(/^CHECK\s+NAMESPACE\s+OBJECT\s+MESSAGE$/m);
    expect(table).toContain('2 finding(s)');
  });
});
