/**
 * `meshward doctor` on the live single-node cluster: clean on the deployed shop (whose JWKS the
 * proxies fetch over mTLS, so the doctor says it did not probe it), and each planted fault found, with its real
 * effect on the mesh where there is one. Every fault is undone before its test ends.
 */
import { join } from 'node:path';
import { objectsOfKind } from '../components/dist.js';
import {
  inNode,
  kubectl,
  localCluster,
  pods,
  requireLocalCluster,
  restore,
  startProbe,
  statusFromProbe,
  until,
} from '../components/local-cluster.js';
import { repoRoot } from '../components/tools.js';

interface DoctorReport {
  readonly exitCode: number | null;
  readonly findings: readonly string[];
  readonly stderr: string;
  readonly jwksFetchedByProxies: readonly string[];
}

/** The doctor's CLI as a user runs it, in the cluster's network namespace, with --json. */
function doctor(): DoctorReport {
  const result = inNode(
    'node',
    [
      join(repoRoot, 'policies/engine/bin/meshward.js'),
      'doctor',
      '--kubeconfig',
      localCluster.kubeconfig,
      '--context',
      localCluster.context,
      '--dist',
      join(repoRoot, 'dist'),
      '--json',
    ],
    { timeoutMs: 120_000 },
  );
  const parsed = JSON.parse(result.stdout || '{"findings":[]}') as {
    findings: { code: string; namespace: string; object: string }[];
    jwksFetchedByProxies?: string[];
  };
  return {
    exitCode: result.status,
    findings: parsed.findings.map((f) => `${f.code} ${f.namespace} ${f.object}`).sort(),
    stderr: result.stderr,
    jwksFetchedByProxies: parsed.jwksFetchedByProxies ?? [],
  };
}

beforeAll(() => {
  requireLocalCluster();
});

describe('meshward doctor on the live cluster', () => {
  test('GIVEN the shop deployed WHEN the doctor runs THEN it finds nothing and exits 0, and says the JWKS is fetched by the proxies (istiod runs with PILOT_JWT_ENABLE_REMOTE_JWKS=envoy), not probed', () => {
    const report = doctor();
    expect(report).toEqual({
      exitCode: 0,
      findings: [],
      stderr: expect.any(String) as unknown,
      jwksFetchedByProxies: [
        'http://keycloak.auth.svc.cluster.local:8080/realms/shop/protocol/openid-connect/certs',
      ],
    });
  });

  test('GIVEN a running pod in a mesh namespace without its sidecar WHEN the doctor runs THEN it names the pod (exit 1), and not once the pod is gone', () => {
    try {
      startProbe({ name: 'meshward-no-sidecar', namespace: 'shop', inject: false });
      const pod = pods('shop', 'app=meshward-no-sidecar', true).at(0);
      expect(pod?.spec.containers.map((c) => c.name)).toEqual(['probe']);
      const report = doctor();
      expect({ exitCode: report.exitCode, findings: report.findings }).toEqual({
        exitCode: 1,
        findings: ['missing-sidecar shop Pod/meshward-no-sidecar'],
      });
    } finally {
      kubectl(['-n', 'shop', 'delete', 'pod', 'meshward-no-sidecar', '--wait=true']);
    }
    expect(doctor().findings).toEqual([]);
  }, 240_000);

  test('GIVEN the shop namespace PeerAuthentication deleted WHEN the doctor runs THEN it reports no STRICT mTLS and the drift, while the connection of a plaintext pod the NetworkPolicy admits is now accepted (RBAC 403 instead of a reset); restored, both go away', async () => {
    const peerAuthentication = objectsOfKind('PeerAuthentication').find(
      (pa) => pa.metadata.namespace === 'shop',
    );
    if (peerAuthentication === undefined)
      throw new Error('dist/ has no PeerAuthentication in shop');
    const name = peerAuthentication.metadata.name;
    const url = 'http://order-service.shop.svc.cluster.local:8080/api/public/catalog';
    // order-service's NetworkPolicy admits only the gateway's pods: the plaintext pod wears their
    // labels (and is never an endpoint of the gateway's Service), so only mTLS keeps it out.
    const status = () => statusFromProbe('istio-system', 'meshward-plaintext', url);
    try {
      startProbe({
        name: 'meshward-plaintext',
        namespace: 'istio-system',
        inject: false,
        labels: { istio: 'ingressgateway' },
        endpoint: false,
      });
      expect(status()).toMatch(/^(000)+$/);

      kubectl(['-n', 'shop', 'delete', 'peerauthentication', name]);
      const report = doctor();
      expect({ exitCode: report.exitCode, findings: report.findings }).toEqual({
        exitCode: 1,
        findings: [
          `drift-missing shop PeerAuthentication/${name}`,
          'no-strict-mtls shop Namespace/shop',
        ],
      });
      // What the finding means: without it the namespace falls back to Istio's PERMISSIVE, the
      // sidecar accepts the plaintext connection, and only the AuthorizationPolicy (which names
      // the gateway's identity, which a plaintext caller cannot have) still refuses: 403, not reset.
      expect(await until(status, (s) => s === '403', 30_000)).toBe('403');
    } finally {
      restore('PeerAuthentication', 'shop', name);
    }
    try {
      expect(doctor().findings).toEqual([]);
      expect(await until(status, (s) => /^(000)+$/.test(s), 30_000)).toMatch(/^(000)+$/);
    } finally {
      kubectl(['-n', 'istio-system', 'delete', 'pod', 'meshward-plaintext', '--wait=false']);
    }
  }, 240_000);

  test('GIVEN an AuthorizationPolicy changed by hand WHEN the doctor runs THEN it reports the changed field (exit 1); re-applied from dist/, it is clean', () => {
    const policy = objectsOfKind('AuthorizationPolicy').find(
      (p) => p.metadata.namespace === 'shop' && p.metadata.name !== 'default-deny',
    );
    if (policy === undefined) throw new Error('dist/ has no AuthorizationPolicy in shop');
    const namespace = 'shop';
    const name = policy.metadata.name;
    kubectl([
      '-n',
      namespace,
      'patch',
      'authorizationpolicy',
      name,
      '--type=merge',
      '-p',
      '{"spec":{"action":"AUDIT"}}',
    ]);
    try {
      const report = doctor();
      expect({ exitCode: report.exitCode, findings: report.findings }).toEqual({
        exitCode: 1,
        findings: [`drift-changed ${namespace} AuthorizationPolicy/${name}`],
      });
    } finally {
      restore('AuthorizationPolicy', namespace, name);
    }
    expect(doctor().findings).toEqual([]);
  }, 240_000);
});
