/**
 * The shop on a real single-node Kubernetes with a real Istio mesh: scripts/integration/run.sh
 * brings the cluster up with scripts/local-up.sh (the same Istio install, Secrets and
 * scripts/deploy.sh that kind-up.sh runs) before this file and tears it down after it.
 * Sidecars are upstream Envoy configured by a real istiod; pods are admitted by a real
 * kube-apiserver under Pod Security `restricted`, with Istio CNI instead of istio-init.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { objectsOfKind, type KubeObject } from '../components/dist.js';
import { GatewayClient, secretValue } from '../components/gateway-client.js';
import {
  containerPids,
  inNode,
  kubectl,
  kubectlJson,
  localCluster,
  pods,
  processView,
  requireLocalCluster,
  type Pod,
} from '../components/local-cluster.js';
import { repoRoot, tools } from '../components/tools.js';

interface Workload {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly selector: Record<string, string>;
  /** runAsUser of each container of the pod template, by container name. */
  readonly users: ReadonlyMap<string, number | undefined>;
}

interface ContainerSpec {
  readonly name: string;
  readonly securityContext?: { readonly runAsUser?: number };
}

function workloads(): Workload[] {
  return objectsOfKind('Deployment').map((deployment: KubeObject) => {
    const spec = deployment.spec as {
      selector: { matchLabels: Record<string, string> };
      template: { spec: { containers: ContainerSpec[]; securityContext?: { runAsUser?: number } } };
    };
    const podUser = spec.template.spec.securityContext?.runAsUser;
    return {
      kind: 'Deployment',
      name: deployment.metadata.name,
      namespace: deployment.metadata.namespace ?? 'default',
      selector: spec.selector.matchLabels,
      users: new Map(
        spec.template.spec.containers.map((container) => [
          container.name,
          container.securityContext?.runAsUser ?? podUser,
        ]),
      ),
    };
  });
}

const selectorOf = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');

const readyPods = (workload: Workload): Pod[] =>
  pods(workload.namespace, selectorOf(workload.selector)).filter(
    (pod) =>
      pod.status.phase === 'Running' &&
      pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true,
  );

/**
 * Waits until the gateway verifies a real Keycloak token: the gateway's Envoy fetches the realm's
 * JWKS itself, over mTLS from Keycloak's sidecar (PILOT_JWT_ENABLE_REMOTE_JWKS=envoy), when a
 * request first needs it; a 401 means the keys are not there yet.
 */
async function untilGatewayVerifiesTokens(limitMs: number): Promise<number> {
  const client = new GatewayClient();
  const secret = secretValue('auth', 'payment-reconciler-oauth', 'client-secret');
  const started = Date.now();
  let status = '';
  try {
    while (Date.now() - started < limitMs) {
      const token = client.clientToken('payment-reconciler', secret);
      status = client.request(
        'GET',
        'shop.example.com',
        'shop.example.com',
        '/api/orders',
        token,
      ).code;
      if (status !== '401' && status !== '000') return Date.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  } finally {
    client.close();
  }
  throw new Error(
    `the gateway still refuses Keycloak's tokens after ${String(limitMs / 1000)}s (last status ${status || 'none'})`,
  );
}

/**
 * The containers of a pod that are running now: its app containers, and Istio's sidecar, which
 * the injector adds as a native sidecar (an init container with restartPolicy Always).
 */
function runningContainers(pod: Pod) {
  return [
    ...(pod.status.containerStatuses ?? []),
    ...(pod.status.initContainerStatuses ?? []),
  ].filter((status) => status.state?.running !== undefined);
}

beforeAll(async () => {
  requireLocalCluster();
  const waited = await untilGatewayVerifiesTokens(150_000);
  process.stdout.write(
    `the gateway verified a Keycloak token ${String(Math.round(waited / 1000))}s after the deploy\n`,
  );
}, 180_000);

describe('the shop on a real cluster with a real mesh', () => {
  test('GIVEN dist/ deployed by scripts/deploy.sh WHEN its Deployments are read THEN each has a Ready pod whose running containers are its app containers and the istio-proxy sidecar, all ready', () => {
    const all = workloads();
    expect(all.length).toBeGreaterThanOrEqual(6);

    const seen = all.map((workload) => {
      const pod = readyPods(workload).at(0);
      const statuses = pod === undefined ? [] : runningContainers(pod);
      return {
        workload: `${workload.namespace}/${workload.name}`,
        containers: statuses.map((s) => `${s.name}:${s.ready ? 'ready' : 'not ready'}`).sort(),
      };
    });
    expect(seen).toEqual(
      all.map((workload) => ({
        workload: `${workload.namespace}/${workload.name}`,
        containers: [...workload.users.keys(), 'istio-proxy'].map((n) => `${n}:ready`).sort(),
      })),
    );
  });

  test('GIVEN the namespaces enforce Pod Security restricted WHEN the injected pods are read THEN none has istio-init (Istio CNI redirects) and the API server refuses a pod that asks for NET_ADMIN', () => {
    for (const namespace of objectsOfKind('Namespace').map((ns) => ns.metadata.name)) {
      const labels = (kubectlJson(['get', 'namespace', namespace]) as KubeObject).metadata.labels;
      expect({ namespace, enforce: labels?.['pod-security.kubernetes.io/enforce'] }).toEqual({
        namespace,
        enforce: 'restricted',
      });
      for (const pod of pods(namespace)) {
        const inits = (pod.spec.initContainers ?? []).map((c) => c.name);
        expect({ pod: pod.metadata.name, istioInit: inits.includes('istio-init') }).toEqual({
          pod: pod.metadata.name,
          istioInit: false,
        });
      }
    }
    const probe = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'meshward-net-admin-probe', namespace: 'shop' },
      spec: {
        containers: [
          {
            name: 'probe',
            image: 'docker.io/curlimages/curl:8.10.1',
            securityContext: { capabilities: { add: ['NET_ADMIN'] } },
          },
        ],
      },
    });
    const refused = inNode(
      tools.kubectl(),
      ['--kubeconfig', localCluster.kubeconfig, 'create', '--dry-run=server', '-f', '-'],
      { input: probe },
    );
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('violates PodSecurity "restricted:latest"');
  });

  test('GIVEN each running container of the mesh namespaces WHEN the kernel is asked about its process THEN it runs as the manifest user (never root) with no capabilities, NoNewPrivs, seccomp filter mode and a read-only root', () => {
    const checked: string[] = [];
    for (const workload of workloads()) {
      const pod = readyPods(workload).at(0);
      if (pod === undefined)
        throw new Error(`${workload.namespace}/${workload.name} has no Ready pod`);
      for (const status of runningContainers(pod)) {
        if (status.containerID === undefined) throw new Error(`${status.name} has no container id`);
        const pids = containerPids(status.containerID);
        expect({ container: status.name, processes: pids.length > 0 }).toEqual({
          container: status.name,
          processes: true,
        });
        const want = status.name === 'istio-proxy' ? 1337 : workload.users.get(status.name);
        for (const pid of pids) {
          const view = processView(pid);
          expect({ container: `${workload.name}/${status.name}`, ...view }).toEqual({
            container: `${workload.name}/${status.name}`,
            uid: want,
            gid: view.gid,
            capEff: 0n,
            capBnd: 0n,
            noNewPrivs: true,
            seccomp: 2,
            rootReadOnly: true,
          });
          expect(view.uid).not.toBe(0);
        }
        checked.push(`${workload.name}/${status.name}`);
      }
    }
    process.stdout.write(
      `checked the processes of ${String(checked.length)} containers: ${checked.join(', ')}\n`,
    );
    expect(checked.length).toBeGreaterThanOrEqual(12);
  });

  test('GIVEN the reconciler CronJob WHEN it is triggered as a Job THEN it gets its client-credentials token from the in-cluster Keycloak and payment-service answers it over mTLS (Job complete)', () => {
    const cronJob = objectsOfKind('CronJob').at(0);
    if (cronJob === undefined) throw new Error('dist/ has no CronJob');
    const namespace = cronJob.metadata.namespace ?? 'default';
    const job = `meshward-tier-${String(Date.now() % 100000)}`;
    kubectl(['-n', namespace, 'create', 'job', job, `--from=cronjob/${cronJob.metadata.name}`]);
    const waited = inNode(
      tools.kubectl(),
      [
        '--kubeconfig',
        localCluster.kubeconfig,
        '-n',
        namespace,
        'wait',
        `job/${job}`,
        '--for=condition=complete',
        '--timeout=240s',
      ],
      { timeoutMs: 260_000 },
    );
    const logs = inNode(tools.kubectl(), [
      '--kubeconfig',
      localCluster.kubeconfig,
      '-n',
      namespace,
      'logs',
      `job/${job}`,
      '-c',
      cronJob.metadata.name,
    ]).stdout;
    expect({ wait: waited.status, stderr: waited.stderr, logs }).toEqual({
      wait: 0,
      stderr: '',
      logs: expect.stringContaining('reconcile done') as unknown,
    });
    // the Job's pod ran with the sidecar as a native sidecar (an init container that keeps running)
    const jobPod = pods(namespace, `job-name=${job}`).at(0);
    expect(jobPod?.spec.initContainers?.find((c) => c.name === 'istio-proxy')?.restartPolicy).toBe(
      'Always',
    );
  }, 300_000);

  test('GIVEN the gateway and the in-cluster Keycloak WHEN `npm run smoke` runs unchanged THEN every row of the access matrix passes with real tokens through the real ingress gateway', () => {
    const result = spawnSync(
      'nsenter',
      [
        `--net=/run/netns/${localCluster.netns}`,
        'bash',
        join(repoRoot, 'scripts/e2e-smoke.sh'),
        '--context',
        localCluster.context,
      ],
      {
        encoding: 'utf8',
        timeout: 240_000,
        env: {
          ...process.env,
          KUBECONFIG: localCluster.kubeconfig,
          PATH: `${join(tools.kubectl(), '..')}:${process.env.PATH ?? ''}`,
        },
      },
    );
    process.stdout.write(result.stderr);
    expect(result.stderr).toContain('all rows passed');
    expect(result.stderr).not.toContain('FAIL');
    expect(result.status).toBe(0);
  }, 300_000);

  // Red-team L5: Keycloak believed a client's own X-Forwarded-* (its left-most address went
  // into the session; X-Forwarded-Host rewrote the discovery document's endpoints).
  test("GIVEN an internet client that sends its own X-Forwarded-For, -Host and -Port WHEN it reads Keycloak's discovery document and logs in through the gateway THEN the endpoints are on the public host and Keycloak records the session at the client's real address", () => {
    const spoofed = [
      'X-Forwarded-For: 6.6.6.6',
      'X-Forwarded-Host: evil.example.com',
      'X-Forwarded-Port: 8443',
      'Forwarded: for=6.6.6.6;host=evil.example.com',
    ];
    const client = new GatewayClient({ headers: spoofed });
    let discovery: Record<string, unknown>;
    try {
      discovery = JSON.parse(
        client.curl(['https://auth.shop.example.com/realms/shop/.well-known/openid-configuration']),
      ) as Record<string, unknown>;
      const user = 'alice';
      client.pkceToken(
        user,
        secretValue('auth', 'keycloak-demo-users', `${user}-password`),
        'shop-web',
      );
    } finally {
      client.close();
    }
    for (const key of ['issuer', 'jwks_uri', 'token_endpoint', 'authorization_endpoint']) {
      expect(String(discovery[key])).toMatch(
        /^https:\/\/auth\.shop\.example\.com\/realms\/shop(\/|$)/,
      );
    }
    // Keycloak's own view, through its Admin API on the pod's loopback (no sidecar on the way).
    const sessions = keycloakAdmin('alice');
    process.stdout.write(`alice's sessions are at ${JSON.stringify(sessions)}\n`);
    expect(sessions).toContain(localCluster.officeIp);
    expect(sessions).not.toContain('6.6.6.6');
  }, 300_000);
});

/**
 * The addresses of USER's sessions in the shop realm, as Keycloak's Admin API reports them: asked
 * from inside the Keycloak pod's network namespace on its loopback (the sidecar never sees it),
 * with the bootstrap admin of the Secret the cluster scripts created.
 */
function keycloakAdmin(user: string): string[] {
  const pod = pods('auth', 'app=keycloak').find((p) => p.status.phase === 'Running');
  const id = pod?.status.containerStatuses?.find((c) => c.name === 'keycloak')?.containerID;
  const pid = id === undefined ? undefined : containerPids(id).at(0);
  if (pid === undefined) throw new Error('no running Keycloak container');
  const curl = (args: readonly string[]): string => {
    const r = spawnSync(
      'nsenter',
      [`--net=/proc/${String(pid)}/ns/net`, 'curl', '-sf', '--max-time', '20', ...args],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0)
      throw new Error(`curl ${args.at(-1) ?? ''} failed (${String(r.status)}): ${r.stderr}`);
    return r.stdout;
  };
  const base = 'http://127.0.0.1:8080';
  const token = (
    JSON.parse(
      curl([
        '-d',
        'grant_type=password',
        '-d',
        'client_id=admin-cli',
        '--data-urlencode',
        `username=${secretValue('auth', 'keycloak-bootstrap-admin', 'username')}`,
        '--data-urlencode',
        `password=${secretValue('auth', 'keycloak-bootstrap-admin', 'password')}`,
        `${base}/realms/master/protocol/openid-connect/token`,
      ]),
    ) as { access_token: string }
  ).access_token;
  const auth = ['-H', `Authorization: Bearer ${token}`];
  const users = JSON.parse(
    curl([...auth, `${base}/admin/realms/shop/users?exact=true&username=${user}`]),
  ) as { id: string }[];
  const userId = users.at(0)?.id;
  if (userId === undefined) throw new Error(`the shop realm has no user ${user}`);
  const sessions = JSON.parse(
    curl([...auth, `${base}/admin/realms/shop/users/${userId}/sessions`]),
  ) as { ipAddress: string }[];
  return sessions.map((s) => s.ipAddress);
}
