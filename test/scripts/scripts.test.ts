/**
 * The cluster scripts, run for real with --dry-run against fake tools on a controlled PATH:
 * every command is printed and none is executed; a missing or too-old tool, a foreign kube
 * context and a stale dist/ are refused with a clear message. (shellcheck runs in the integration tier,
 * which provisions it: test/integration/shellcheck.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DIST, ROOT } from '../support/manifests.js';

const SCRIPTS = join(ROOT, 'scripts');
/** The utilities the scripts use besides the cluster tools. */
const UTILITIES = [
  'bash',
  'awk',
  'base64',
  'basename',
  'cat',
  'dirname',
  'find',
  'grep',
  'head',
  'kill',
  'mktemp',
  'openssl',
  'rm',
  'sed',
  'seq',
  'sleep',
  'sort',
  'touch',
  'tr',
];
const VERSIONS: Record<string, string> = {
  docker: 'Docker version 27.3.1, build ce12230',
  kind: 'kind v0.24.0 go1.22.6 linux/amd64',
  minikube: 'v1.34.0',
  kubectl: 'Client Version: v1.31.1\nKustomize Version: v5.4.2',
  istioctl: 'client version: 1.23.2',
  curl: 'curl 8.10.1 (x86_64-pc-linux-gnu)',
};

interface Sandbox {
  readonly dir: string;
  readonly bin: string;
  readonly log: string;
  readonly dist: string;
}

let sandboxes: string[] = [];
afterEach(() => {
  for (const dir of sandboxes) rmSync(dir, { recursive: true, force: true });
  sandboxes = [];
});

/** A PATH holding only the utilities and fake tools that log every call and print a version. */
function sandbox(
  options: { omit?: string; versions?: Record<string, string>; context?: string } = {},
): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'meshward-scripts-'));
  sandboxes.push(dir);
  const bin = join(dir, 'bin');
  const log = join(dir, 'calls.log');
  cpSync(DIST, join(dir, 'dist'), { recursive: true });
  const real = spawnSync(
    'bash',
    ['-c', `for t in ${UTILITIES.join(' ')}; do command -v "$t"; done`],
    {
      encoding: 'utf8',
    },
  )
    .stdout.trim()
    .split('\n');
  spawnSync('mkdir', ['-p', bin]);
  real.forEach((path, index) => {
    symlinkSync(path, join(bin, UTILITIES[index] ?? ''));
  });
  const versions = { ...VERSIONS, ...options.versions };
  for (const [tool, version] of Object.entries(versions)) {
    if (tool === options.omit) continue;
    const script = [
      '#!/usr/bin/env bash',
      `echo "${tool} $*" >> '${log}'`,
      tool === 'kubectl'
        ? `if [[ "$1 $2" == "config current-context" ]]; then echo '${options.context ?? 'kind-meshward'}'; exit 0; fi`
        : '',
      `cat <<'VERSION'\n${version}\nVERSION`,
    ].join('\n');
    writeFileSync(join(bin, tool), `${script}\n`);
    chmodSync(join(bin, tool), 0o755);
  }
  return { dir, bin, log, dist: join(dir, 'dist') };
}

function runScript(box: Sandbox, script: string, args: readonly string[]) {
  const result = spawnSync(join(box.bin, 'bash'), [join(SCRIPTS, script), ...args], {
    encoding: 'utf8',
    env: {
      PATH: box.bin,
      HOME: box.dir,
      TMPDIR: box.dir,
      MESHWARD_DIST: box.dist,
      MESHWARD_LOCAL_DIR: join(box.dir, 'local'),
    },
    timeout: 60_000,
  });
  let calls: string[] = [];
  try {
    calls = readFileSync(box.log, 'utf8').trim().split('\n');
  } catch {
    calls = [];
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
}

/** The calls a dry run may make: version queries and the local current-context. */
const harmless = (call: string) =>
  /^(docker --version|kind version|minikube version --short|kubectl version --client|istioctl version --remote=false|curl --version|kubectl config current-context)$/.test(
    call,
  );

const services = readdirSync(join(ROOT, 'services'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .filter((name) => {
    try {
      readFileSync(join(ROOT, 'services', name, 'Dockerfile'));
      return true;
    } catch {
      return false;
    }
  });

describe('kind-up.sh --dry-run', () => {
  test('prints every step in order and runs nothing but version checks', () => {
    // GIVEN every tool present and recent
    const box = sandbox();
    // WHEN the dry run goes
    const result = runScript(box, 'kind-up.sh', ['--dry-run']);
    // THEN it succeeds, prints the commands of a first run, and executed none of them
    expect(result.stderr).not.toMatch(/error/);
    expect(result.status).toBe(0);
    const out = result.stdout;
    const order = [
      '+ kind create cluster --name meshward',
      '+ docker build -t meshward/',
      '+ kind load docker-image meshward/',
      `+ istioctl install --context kind-meshward -y -f ${join(SCRIPTS, 'istio', 'mesh.yaml')}`,
      '--server-side --field-manager=meshward -f',
      'create secret generic keycloak-bootstrap-admin',
      'create secret tls shop-example-com-tls',
      '-n shop rollout status deployment/order-service',
      'requestauthentications.yaml',
    ].map((needle) => out.indexOf(needle));
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    for (const name of services) {
      expect(out).toContain(
        `docker build -t meshward/${name}:0.1.0 -f services/${name}/Dockerfile`,
      );
      expect(out).toContain(`kind load docker-image meshward/${name}:0.1.0 --name meshward`);
    }
    expect(result.calls.filter((call) => !harmless(call))).toEqual([]);
  });

  test('prints Secret commands without their values', () => {
    const result = runScript(sandbox(), 'kind-up.sh', ['--dry-run']);
    const creates = result.stdout
      .split('\n')
      .filter((line) => line.includes('create secret generic'));
    expect(creates).toHaveLength(4);
    for (const line of creates) {
      expect(line).not.toMatch(/=[0-9a-f]{48}/);
      expect(line).toMatch(/=\\?<redacted\\?>/);
    }
    expect(result.stdout).toContain('-n shop create secret generic payment-reconciler-oauth');
    expect(result.stdout).toContain('-n auth create secret generic payment-reconciler-oauth');
  });

  test('throws when a tool is missing, naming it and its minimum version', () => {
    const result = runScript(sandbox({ omit: 'kind' }), 'kind-up.sh', ['--dry-run']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("'kind' is not installed or not on PATH (need kind >= 0.20.0)");
    expect(result.stdout).toBe('');
  });

  test('throws when a tool is too old', () => {
    const box = sandbox({ versions: { istioctl: 'client version: 1.18.7' } });
    const result = runScript(box, 'kind-up.sh', ['--dry-run']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("'istioctl' 1.18.7 is too old (need istioctl >= 1.22.0)");
  });

  test('rejects an unknown argument and a bad cluster name', () => {
    expect(runScript(sandbox(), 'kind-up.sh', ['--bogus']).stderr).toContain(
      "unknown argument '--bogus'",
    );
    expect(runScript(sandbox(), 'kind-up.sh', ['--name', 'Bad_Name']).stderr).toContain(
      "cluster name 'Bad_Name'",
    );
  });
});

describe('minikube-up.sh --dry-run', () => {
  test('starts minikube, loads the images with minikube and deploys to its context', () => {
    const result = runScript(sandbox(), 'minikube-up.sh', ['--dry-run']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('+ minikube start --profile minikube');
    for (const name of services) {
      expect(result.stdout).toContain(
        `minikube image load meshward/${name}:0.1.0 --profile minikube`,
      );
    }
    expect(result.stdout).toContain('kubectl --context minikube apply --server-side');
    expect(result.calls.filter((call) => !harmless(call))).toEqual([]);
  });

  test('throws when minikube is missing', () => {
    const result = runScript(sandbox({ omit: 'minikube' }), 'minikube-up.sh', ['--dry-run']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      "'minikube' is not installed or not on PATH (need minikube >= 1.32.0)",
    );
  });
});

describe('deploy.sh', () => {
  test('--dry-run checks the CRDs, applies namespaces first, then the rest, then waits', () => {
    const result = runScript(sandbox(), 'deploy.sh', ['--dry-run']);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('kube context: kind-meshward');
    const lines = result.stdout.split('\n');
    const first = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line));
    const crd = first(
      /wait --for=condition=Established crd\/authorizationpolicies\.security\.istio\.io/,
    );
    const namespaces = first(/apply --server-side --field-manager=meshward -f .*namespaces\.yaml/);
    const active = first(/wait --for=jsonpath=.*Active namespace\/shop/);
    const objects = first(/apply --server-side --field-manager=meshward -f .*objects\.yaml/);
    const rollout = first(/rollout status deployment\//);
    expect([crd, namespaces, active, objects, rollout].every((i) => i >= 0)).toBe(true);
    expect(crd).toBeLessThan(namespaces);
    expect(namespaces).toBeLessThan(active);
    expect(active).toBeLessThan(objects);
    expect(objects).toBeLessThan(rollout);
    expect(result.stdout).toContain('port-forward svc/istio-ingressgateway');
    expect(result.stdout).toContain('/realms/shop/protocol/openid-connect/token');
  });

  test('refuses a context that does not look like kind or minikube', () => {
    const result = runScript(sandbox({ context: 'prod-eu-1' }), 'deploy.sh', ['--dry-run']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      "current kube context 'prod-eu-1' does not look like kind (kind-*) or minikube: refusing",
    );
    expect(result.stdout).toBe('');
  });

  test('deploys to any context named explicitly with --context', () => {
    const result = runScript(sandbox({ context: 'prod-eu-1' }), 'deploy.sh', [
      '--dry-run',
      '--context',
      'staging',
      '--force-conflicts',
    ]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(
      'kubectl --context staging apply --server-side --field-manager=meshward --force-conflicts',
    );
  });

  test('refuses a dist/ older than policies/ and charts/', () => {
    const box = sandbox();
    const old = new Date('2000-01-01T00:00:00Z');
    for (const file of readdirSync(box.dist)) utimesSync(join(box.dist, file), old, old);
    const result = runScript(box, 'deploy.sh', ['--dry-run']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/dist\/ is older than its sources .*run 'npm run synth' first/);
    expect(result.stdout).toBe('');
  });

  test('rejects a bad --timeout', () => {
    const result = runScript(sandbox(), 'deploy.sh', ['--dry-run', '--timeout', '5m']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("--timeout '5m' must be a positive number of seconds");
  });
});

describe('e2e-smoke.sh --dry-run', () => {
  test('prints the token flow and every matrix row', () => {
    const result = runScript(sandbox(), 'e2e-smoke.sh', ['--dry-run']);
    expect(result.status).toBe(0);
    for (const needle of [
      'port-forward svc/istio-ingressgateway 8443:443',
      'code_challenge_method=S256',
      'grant_type=authorization_code',
      'https://shop.example.com/api/public/catalog',
      'https://shop.example.com/api/admin/stats',
      'https://shop.example.com/api/payments/1',
      'run meshward-smoke-plaintext',
    ]) {
      expect(result.stdout).toContain(needle);
    }
    expect(result.calls.filter((call) => !harmless(call))).toEqual([]);
  });

  test('throws when curl is missing', () => {
    const result = runScript(sandbox({ omit: 'curl' }), 'e2e-smoke.sh', ['--dry-run']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("'curl' is not installed or not on PATH");
  });
});

describe('scripts/istio/mesh.yaml', () => {
  test('enables the CNI agent, DECODE_AND_MERGE_SLASHES and the ingress gateway', () => {
    const operator = parse(readFileSync(join(SCRIPTS, 'istio', 'mesh.yaml'), 'utf8')) as {
      kind: string;
      spec: {
        meshConfig: { pathNormalization: { normalization: string } };
        components: {
          cni: { enabled: boolean };
          ingressGateways: { name: string; enabled: boolean }[];
        };
      };
    };
    expect(operator.kind).toBe('IstioOperator');
    expect(operator.spec.components.cni.enabled).toBe(true);
    expect(operator.spec.meshConfig.pathNormalization.normalization).toBe(
      'DECODE_AND_MERGE_SLASHES',
    );
    expect(operator.spec.components.ingressGateways).toContainEqual({
      name: 'istio-ingressgateway',
      enabled: true,
    });
  });
});

describe('cdk8s.yaml', () => {
  test('runs the chart entry point into dist/ and records no imports', () => {
    // `cdk8s import` appends every file it imports; scripts/import-upstream.sh imports a
    // temporary file, so a recorded import would be a path that exists on no other machine.
    const config = parse(readFileSync(join(ROOT, 'cdk8s.yaml'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      language: 'typescript',
      app: 'npx tsx charts/main.ts',
      output: 'dist',
    });
    expect(config.imports).toBeUndefined();
  });
});

describe('local-up.sh --dry-run', () => {
  test('prints the single-node cluster, then the steps kind-up.sh runs (local images, mesh.yaml plus local.yaml), and runs nothing', () => {
    // GIVEN every tool present
    const box = sandbox({ context: 'meshward-local' });
    // WHEN the dry run goes
    const result = runScript(box, 'local-up.sh', ['--dry-run']);
    // THEN the cluster comes first, then the shared mesh_up steps, in kind-up.sh's order
    expect(result.stderr).not.toMatch(/error/);
    expect(result.status).toBe(0);
    const out = result.stdout;
    const order = [
      `+ bash ${join(SCRIPTS, 'local-cluster', 'up.sh')}`,
      `+ bash ${join(SCRIPTS, 'local-cluster', 'images.sh')} --workloads`,
      `+ istioctl install --context meshward-local -y -f ${join(SCRIPTS, 'istio', 'mesh.yaml')} -f ${join(SCRIPTS, 'istio', 'local.yaml')}`,
      'rollout status daemonset/istio-cni-node',
      '--server-side --field-manager=meshward -f',
      'create secret generic keycloak-bootstrap-admin',
      '-n shop rollout status deployment/order-service',
      'requestauthentications.yaml',
    ].map((needle) => out.indexOf(needle));
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(out).toContain(`values.cni.cniBinDir=${join(box.dir, 'local', 'cni', 'bin')}`);
    expect(out).not.toContain('docker build');
    expect(result.calls.filter((call) => !harmless(call))).toEqual([]);
  });
});

describe('ensure_secret (scripts/lib/cluster.sh)', () => {
  test('GIVEN generated values WHEN the Secret is created THEN they reach kubectl on stdin, never on its command line (red-team L8)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshward-secret-'));
    sandboxes.push(dir);
    const kubectl = join(dir, 'kubectl');
    writeFileSync(
      kubectl,
      [
        '#!/usr/bin/env bash',
        `echo "argv: $*" >> '${dir}/calls.log'`,
        '[[ "$*" == *"get secret"* ]] && exit 1',
        `cat >> '${dir}/stdin.log'`,
      ].join('\n'),
    );
    chmodSync(kubectl, 0o755);
    const script = [
      'set -euo pipefail',
      `source '${join(SCRIPTS, 'lib/common.sh')}'`,
      `source '${join(SCRIPTS, 'lib/cluster.sh')}'`,
      'DRY_RUN=0 KCTX=ctx',
      'ensure_secret shop app-oauth client-secret=s3cr3t-value-1 password=s3cr3t-value-2',
    ].join('\n');
    const result = spawnSync('bash', ['-c', script], {
      encoding: 'utf8',
      env: { PATH: `${dir}:${process.env.PATH ?? ''}` },
    });

    expect(result.status).toBe(0);
    const argv = readFileSync(join(dir, 'calls.log'), 'utf8');
    expect(argv).toContain('create secret generic app-oauth --from-env-file=/dev/stdin');
    expect(argv).not.toContain('s3cr3t');
    expect(`${result.stdout}${result.stderr}`).not.toContain('s3cr3t');
    expect(readFileSync(join(dir, 'stdin.log'), 'utf8')).toBe(
      'client-secret=s3cr3t-value-1\npassword=s3cr3t-value-2\n',
    );
  });

  test('GIVEN no bootstrap admin Secret WHEN ensure_keycloak_admin creates it THEN the username and password reach kubectl on file descriptors and the keycloak.conf Keycloak reads on stdin, with the same password, never on the command line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshward-secret-'));
    sandboxes.push(dir);
    const kubectl = join(dir, 'kubectl');
    writeFileSync(
      kubectl,
      [
        '#!/usr/bin/env bash',
        `echo "argv: $*" >> '${dir}/calls.log'`,
        '[[ "$*" == *"get secret"* ]] && exit 1',
        `cat >> '${dir}/stdin.log'`,
        `cat /dev/fd/3 >> '${dir}/fd3.log'`,
        `cat /dev/fd/4 >> '${dir}/fd4.log'`,
      ].join('\n'),
    );
    chmodSync(kubectl, 0o755);
    const script = [
      'set -euo pipefail',
      `source '${join(SCRIPTS, 'lib/common.sh')}'`,
      `source '${join(SCRIPTS, 'lib/cluster.sh')}'`,
      'DRY_RUN=0 KCTX=ctx',
      'ensure_keycloak_admin',
    ].join('\n');
    const result = spawnSync('bash', ['-c', script], {
      encoding: 'utf8',
      env: { PATH: `${dir}:${process.env.PATH ?? ''}` },
    });

    expect(result.status).toBe(0);
    expect(readFileSync(join(dir, 'fd3.log'), 'utf8')).toBe('admin');
    const password = readFileSync(join(dir, 'fd4.log'), 'utf8');
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(readFileSync(join(dir, 'stdin.log'), 'utf8')).toBe(
      `bootstrap-admin-username=admin\nbootstrap-admin-password=${password}\n`,
    );
    const argv = readFileSync(join(dir, 'calls.log'), 'utf8');
    expect(argv).toContain(
      'create secret generic keycloak-bootstrap-admin --from-file=username=/dev/fd/3 --from-file=password=/dev/fd/4 --from-file=keycloak.conf=/dev/stdin',
    );
    expect(argv).not.toContain(password);
    expect(`${result.stdout}${result.stderr}`).not.toContain(password);
  });
});
