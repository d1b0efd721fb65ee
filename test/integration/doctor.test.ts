/**
 * `meshward doctor` against a real kube-apiserver (+ etcd): dist/ applied server-side, then a
 * pod without a sidecar, a drifted policy, an extra policy and a missing default deny created
 * through the API; the doctor must name each. No controllers run, so pods are created directly.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeReader, doctorMain, runDoctor, type Finding } from '../../policies/doctor/index.js';
import { distFiles } from './components/dist.js';
import { startControlPlane, type ControlPlane } from './components/kube.js';
import { runDir } from './components/process.js';
import { distDir, tools } from './components/tools.js';

let plane: ControlPlane;

function kubectlOk(args: readonly string[], input?: string): string {
  const result = plane.kubectl(args, input);
  if (result.status !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')} failed (${String(result.status)}):\n${result.stderr}`,
    );
  }
  return result.stdout;
}

const apply = (files: readonly string[], flags: readonly string[] = []) =>
  kubectlOk([
    'apply',
    '--server-side',
    '--field-manager=meshward',
    ...flags,
    ...files.flatMap((f) => ['-f', f]),
  ]);

/** A pod that passes the restricted Pod Security Standard, with the given container names. */
function hardenedPod(name: string, containers: readonly string[]): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels: { app: name } },
    spec: {
      // No controllers run, so namespaces have no `default` ServiceAccount: use one dist/ makes.
      serviceAccountName: 'order-service',
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 10001,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: containers.map((container) => ({
        name: container,
        image: 'example.invalid/app:1',
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      })),
    },
  });
}

const report = (options: { skipJwks?: boolean } = {}) =>
  runDoctor({
    reader: new KubeReader({ kubeconfig: plane.kubeconfig }),
    distDir,
    skipJwks: options.skipJwks ?? true,
    jwksTimeoutMs: 5000,
  });
const codes = (findings: readonly Finding[]) =>
  findings.map((f) => `${f.code} ${f.namespace} ${f.object}`);

beforeAll(async () => {
  plane = await startControlPlane();
});

afterAll(async () => {
  await plane.stop();
});

describe('meshward doctor on a real API server', () => {
  test('exits 2 naming the CRD when Istio is not installed', async () => {
    const err: string[] = [];
    const code = await doctorMain(
      ['--kubeconfig', plane.kubeconfig, '--dist', distDir, '--skip-jwks'],
      {
        stdout: () => undefined,
        stderr: (text) => err.push(text),
      },
    );
    expect(code).toBe(2);
    expect(err.join('')).toMatch(/\.security\.istio\.io is not installed/);
  });

  test('exits 2 when the API server is unreachable', async () => {
    const kubeconfig = join(runDir, 'unreachable.kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: gone, context: {cluster: gone, user: u}}]',
        'current-context: gone',
        '',
      ].join('\n'),
    );
    const err: string[] = [];
    const code = await doctorMain(['--kubeconfig', kubeconfig, '--dist', distDir], {
      stdout: () => undefined,
      stderr: (text) => err.push(text),
    });
    expect(code).toBe(2);
    expect(err.join('')).toContain(
      "cannot reach the API server at context 'gone' (https://127.0.0.1:1)",
    );
  });

  describe('with the Istio CRDs and dist/ applied', () => {
    beforeAll(() => {
      apply([tools.istioCrds()]);
      kubectlOk(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=120s']);
      // istioctl creates istio-system in a cluster; the gateway's objects in dist/ live there.
      kubectlOk(['create', 'namespace', 'istio-system']);
      apply(distFiles());
    });

    test('a faithful apply of dist/ has no finding', async () => {
      const result = await report();
      expect(result.meshNamespaces).toEqual(expect.arrayContaining(['auth', 'shop']));
      expect(result.findings).toEqual([]);
    });

    test('reports a pod without istio-proxy, not one with it', async () => {
      kubectlOk(['apply', '-f', '-'], hardenedPod('no-sidecar', ['app']));
      kubectlOk(['apply', '-f', '-'], hardenedPod('with-sidecar', ['app', 'istio-proxy']));
      const result = await report();
      expect(codes(result.findings)).toEqual(['missing-sidecar shop Pod/no-sidecar']);
      kubectlOk([
        'delete',
        'pod',
        '-n',
        'shop',
        'no-sidecar',
        'with-sidecar',
        '--grace-period=0',
        '--force',
      ]);
    });

    test('reports drift: a changed policy, an extra one and a deleted default deny', async () => {
      kubectlOk([
        '-n',
        'shop',
        'patch',
        'peerauthentication',
        'default',
        '--type=merge',
        '-p',
        '{"spec":{"mtls":{"mode":"PERMISSIVE"}}}',
      ]);
      kubectlOk(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'security.istio.io/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'allow-everything', namespace: 'shop' },
          spec: { rules: [{}] },
        }),
      );
      kubectlOk(['-n', 'auth', 'delete', 'authorizationpolicy', 'default-deny']);
      const result = await report();
      expect(codes(result.findings).sort()).toEqual(
        [
          'no-strict-mtls shop Namespace/shop',
          'drift-changed shop PeerAuthentication/default',
          'drift-extra shop AuthorizationPolicy/allow-everything',
          'no-default-deny auth Namespace/auth',
          'drift-missing auth AuthorizationPolicy/default-deny',
        ].sort(),
      );
      expect(result.findings.find((f) => f.code === 'drift-changed')?.message).toContain(
        'spec.mtls.mode: want "STRICT", live "PERMISSIVE"',
      );
      // Re-applying dist/ (taking back the patched field) repairs all but the extra object.
      apply(distFiles(), ['--force-conflicts']);
      kubectlOk(['-n', 'shop', 'delete', 'authorizationpolicy', 'allow-everything']);
      expect((await report()).findings).toEqual([]);
    });

    test('reports the in-cluster JWKS as unreachable when Keycloak has no endpoints', async () => {
      const result = await report({ skipJwks: false });
      const unreachable = result.findings.filter((f) => f.code === 'jwks-unreachable');
      expect(unreachable.length).toBeGreaterThan(0);
      expect(unreachable[0]?.message).toMatch(/keycloak\.auth\.svc/);
    });

    test('the CLI prints a table and exits 1 on findings', async () => {
      kubectlOk(['apply', '-f', '-'], hardenedPod('no-sidecar-2', ['app']));
      const out: string[] = [];
      const code = await doctorMain(
        ['--kubeconfig', plane.kubeconfig, '--dist', distDir, '--skip-jwks'],
        {
          stdout: (text) => out.push(text),
          stderr: () => undefined,
        },
      );
      expect(code).toBe(1);
      expect(out.join('')).toMatch(/missing-sidecar\s+shop\s+Pod\/no-sidecar-2/);
    });
  });
});
