/**
 * The single-node cluster of scripts/local-cluster/ as the cluster tests reach it: its names and
 * paths read from scripts/local-cluster/lib.sh (one source), kubectl and other commands run in
 * its network namespace (the API server and every cluster address live only there).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { objectsOfKind } from './dist.js';
import { repoRoot, tools } from './tools.js';

function readLocalNames(): Map<string, string> {
  const text = readFileSync(join(repoRoot, 'scripts/local-cluster/lib.sh'), 'utf8');
  const names = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(LOCAL_[A-Z_]+)=([A-Za-z0-9./-]+)$/.exec(line.trim());
    if (match) names.set(match[1], match[2]);
  }
  return names;
}

const names = readLocalNames();

function name(key: string): string {
  const value = names.get(key);
  if (value === undefined) throw new Error(`scripts/local-cluster/lib.sh has no plain ${key}=`);
  return value;
}

export const localCluster = {
  dir: process.env.MESHWARD_LOCAL_DIR ?? '/var/tmp/meshward-local',
  netns: name('LOCAL_NETNS'),
  /** the internet clients' namespace: OFFICE_IP inside the gateway allowlist, OUTSIDE_IP not */
  internet: name('LOCAL_INTERNET'),
  nodeIp: name('LOCAL_NODE_IP'),
  officeIp: name('LOCAL_OFFICE_IP'),
  outsideIp: name('LOCAL_OUTSIDE_IP'),
  context: name('LOCAL_CONTEXT'),
  cgroup: name('LOCAL_CGROUP'),
  nodeName: name('LOCAL_NODE_NAME'),
  get kubeconfig(): string {
    return join(this.dir, 'pki/admin.kubeconfig');
  },
};

/** Throws, naming how to bring it up, unless the cluster's network namespace and API are there. */
export function requireLocalCluster(): void {
  if (!existsSync(`/run/netns/${localCluster.netns}`) || !existsSync(localCluster.kubeconfig)) {
    throw new Error(
      `the single-node cluster is not up (no /run/netns/${localCluster.netns} or ${localCluster.kubeconfig}): ` +
        'run the cluster tests through scripts/integration/run.sh, which brings it up with scripts/local-up.sh',
    );
  }
}

interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs a command in the cluster's network namespace. */
export function inNode(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): SpawnSyncReturns<string> {
  return inNetns(localCluster.netns, command, args, options);
}

/** Runs a command as an internet client: in the namespace whose only route is the node. */
export function inInternet(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): SpawnSyncReturns<string> {
  return inNetns(localCluster.internet, command, args, options);
}

function inNetns(
  netns: string,
  command: string,
  args: readonly string[],
  options: RunOptions,
): SpawnSyncReturns<string> {
  return spawnSync('nsenter', [`--net=/run/netns/${netns}`, command, ...args], {
    encoding: 'utf8',
    input: options.input,
    env: options.env ?? process.env,
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** kubectl against the cluster; throws with its stderr on a non-zero exit. */
export function kubectl(args: readonly string[], input?: string): string {
  const result = inNode(
    tools.kubectl(),
    ['--kubeconfig', localCluster.kubeconfig, '--context', localCluster.context, ...args],
    { input },
  );
  if (result.status !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')} failed (${String(result.status ?? result.signal)}):\n${result.stderr}`,
    );
  }
  return result.stdout;
}

/** `kubectl ... -o json`, parsed; the caller names the shape it reads. */
export function kubectlJson(args: readonly string[]): unknown {
  return JSON.parse(kubectl([...args, '-o', 'json'])) as unknown;
}

export interface ContainerStatus {
  readonly name: string;
  readonly ready: boolean;
  readonly containerID?: string;
  readonly state?: { readonly running?: unknown };
}

export interface Pod {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
    readonly ownerReferences?: readonly { readonly kind: string; readonly name: string }[];
  };
  readonly spec: {
    readonly serviceAccountName?: string;
    readonly containers: readonly { readonly name: string; readonly image: string }[];
    readonly initContainers?: readonly {
      readonly name: string;
      readonly image: string;
      readonly restartPolicy?: string;
    }[];
  };
  readonly status: {
    readonly phase: string;
    readonly podIP?: string;
    readonly conditions?: readonly { readonly type: string; readonly status: string }[];
    readonly containerStatuses?: readonly ContainerStatus[];
    readonly initContainerStatuses?: readonly ContainerStatus[];
  };
}

/** The label every probe pod of the tests carries (see probePod). */
export const PROBE_LABEL = 'meshward.io/probe';

/**
 * The pods of a namespace matching the label selector: the workloads' own, without the tests'
 * probe pods (some wear a workload's labels) unless `withProbes`.
 */
export function pods(namespace: string, selector?: string, withProbes = false): Pod[] {
  const terms = [...(selector ? [selector] : []), ...(withProbes ? [] : [`!${PROBE_LABEL}`])];
  const list = kubectlJson([
    '-n',
    namespace,
    'get',
    'pods',
    ...(terms.length > 0 ? ['-l', terms.join(',')] : []),
  ]);
  return (list as { items: Pod[] }).items;
}

/**
 * The PIDs of a running container, found through the cluster's cgroup (every pod process lives
 * under /sys/fs/cgroup/pids/<cgroup>/kubepods/.../pod<uid>/<container id>).
 */
export function containerPids(containerID: string): number[] {
  const id = containerID.replace(/^containerd:\/\//, '');
  const root = `/sys/fs/cgroup/pids/${localCluster.cgroup}`;
  const found: number[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      if (entry.name === id) {
        found.push(
          ...readFileSync(join(path, 'cgroup.procs'), 'utf8')
            .split('\n')
            .filter((line) => line !== '')
            .map(Number),
        );
      } else {
        walk(path);
      }
    }
  };
  walk(root);
  return found;
}

/** What the kernel says of a process: its status fields and whether its root is mounted read-only. */
export interface ProcessView {
  readonly uid: number;
  readonly gid: number;
  readonly capEff: bigint;
  readonly capBnd: bigint;
  readonly noNewPrivs: boolean;
  readonly seccomp: number;
  readonly rootReadOnly: boolean;
}

export function processView(pid: number): ProcessView {
  const status = new Map(
    readFileSync(`/proc/${String(pid)}/status`, 'utf8')
      .split('\n')
      .map((line) => line.split(':\t') as [string, string | undefined])
      .filter((pair): pair is [string, string] => pair[1] !== undefined),
  );
  const field = (key: string): string => {
    const value = status.get(key);
    if (value === undefined) throw new Error(`/proc/${String(pid)}/status has no ${key}`);
    return value.trim();
  };
  // mountinfo: "id parent major:minor root mountpoint options ..."; the process's / is mountpoint "/"
  const rootMount = readFileSync(`/proc/${String(pid)}/mountinfo`, 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((parts) => parts.at(4) === '/')
    .at(-1);
  if (rootMount === undefined) throw new Error(`/proc/${String(pid)}/mountinfo has no / mount`);
  return {
    uid: Number(field('Uid').split(/\s+/)[0]),
    gid: Number(field('Gid').split(/\s+/)[0]),
    capEff: BigInt(`0x${field('CapEff')}`),
    capBnd: BigInt(`0x${field('CapBnd')}`),
    noNewPrivs: field('NoNewPrivs') === '1',
    seccomp: Number(field('Seccomp')),
    rootReadOnly: (rootMount.at(5) ?? '').split(',').includes('ro'),
  };
}

/** The readiness gate nothing ever sets: the pod's containers get ready, the pod never does. */
const NEVER_READY = 'meshward.io/not-an-endpoint';
/**
 * The controller of probe pods that wear a workload's labels, so the workload's ReplicaSet does
 * not adopt them (and scale the surplus away): a ConfigMap; deleting it deletes them.
 */
const PROBE_OWNER = 'meshward-probe-owner';

/**
 * A restricted-compliant probe pod (busybox + curl, `meshward.local/probe:1`, built by
 * scripts/local-cluster/images.sh) that sleeps, with a writable /tmp. `inject` asks for the
 * sidecar or refuses it; `serviceAccount` runs it under that identity. `labels` may be a
 * workload's own (to be that workload for NetworkPolicies): then pass `endpoint: false`, and the
 * pod never turns Ready, so no Service sends it the workload's traffic.
 */
export function probePod(options: {
  name: string;
  namespace: string;
  inject: boolean;
  serviceAccount?: string;
  labels?: Record<string, string>;
  endpoint?: boolean;
  /** the UID of the namespace's PROBE_OWNER ConfigMap (required with `endpoint: false`) */
  ownerUid?: string;
}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: options.name,
      namespace: options.namespace,
      labels: { app: options.name, [PROBE_LABEL]: 'true', ...options.labels },
      annotations: { 'sidecar.istio.io/inject': String(options.inject) },
      ...(options.ownerUid === undefined
        ? {}
        : {
            ownerReferences: [
              {
                apiVersion: 'v1',
                kind: 'ConfigMap',
                name: PROBE_OWNER,
                uid: options.ownerUid,
                controller: true,
              },
            ],
          }),
    },
    spec: {
      ...(options.serviceAccount ? { serviceAccountName: options.serviceAccount } : {}),
      ...(options.endpoint === false ? { readinessGates: [{ conditionType: NEVER_READY }] } : {}),
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 10001,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'probe',
          image: 'meshward.local/probe:1',
          imagePullPolicy: 'IfNotPresent',
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
        },
      ],
      volumes: [{ name: 'tmp', emptyDir: {} }],
    },
  });
}

/** Creates a probe pod (see probePod) and waits until its containers are ready. */
export function startProbe(options: Omit<Parameters<typeof probePod>[0], 'ownerUid'>): void {
  let ownerUid: string | undefined;
  if (options.endpoint === false) {
    kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: PROBE_OWNER,
          namespace: options.namespace,
          labels: { [PROBE_LABEL]: 'owner' },
        },
      }),
    );
    ownerUid = kubectl([
      '-n',
      options.namespace,
      'get',
      'configmap',
      PROBE_OWNER,
      '-o',
      'jsonpath={.metadata.uid}',
    ]).trim();
  }
  kubectl(['apply', '-f', '-'], probePod({ ...options, ownerUid }));
  kubectl([
    '-n',
    options.namespace,
    'wait',
    `pod/${options.name}`,
    `--for=condition=${options.endpoint === false ? 'ContainersReady' : 'Ready'}`,
    '--timeout=120s',
  ]);
}

/** Deletes every probe owner ConfigMap, and with them the probe pods they own. */
export function removeProbeOwners(): void {
  kubectl([
    'delete',
    'configmaps',
    '-A',
    '-l',
    `${PROBE_LABEL}=owner`,
    '--ignore-not-found',
    '--wait=false',
  ]);
}

/**
 * Runs COMMAND in the probe container of a probe pod (`kubectl exec`, with INPUT on its stdin
 * when given) and returns what it printed.
 */
export function inProbe(
  namespace: string,
  pod: string,
  command: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): string {
  return inNode(
    tools.kubectl(),
    [
      '--kubeconfig',
      localCluster.kubeconfig,
      '-n',
      namespace,
      'exec',
      ...(options.input === undefined ? [] : ['-i']),
      pod,
      '-c',
      'probe',
      '--',
      ...command,
    ],
    options,
  ).stdout;
}

/** HTTP status a request from a probe pod gets ("000" when the connection is reset). */
export function statusFromProbe(namespace: string, pod: string, url: string): string {
  return inProbe(namespace, pod, [
    'curl',
    '-s',
    '-o',
    '/dev/null',
    '-m',
    '3',
    '-w',
    '%{http_code}',
    url,
  ]).trim();
}

/**
 * A request from a probe pod: curl's HTTP status ("000" without an answer) and its exit status
 * (7: the connection refused, 28: not connected in 3 s, 56/52: reset or closed after connecting).
 */
export function curlFromProbe(
  namespace: string,
  pod: string,
  url: string,
): { code: string; exit: number } {
  const out = inProbe(namespace, pod, [
    'sh',
    '-c',
    'code=$(curl -s -o /dev/null --connect-timeout 3 -m 5 -w "%{http_code}" "$1"); echo "$code $?"',
    'curl',
    url,
  ]).trim();
  const match = /^(\d+) (\d+)$/.exec(out);
  if (!match) throw new Error(`no curl result from ${namespace}/${pod} for ${url}: '${out}'`);
  return { code: match[1], exit: Number(match[2]) };
}

/** Puts one object of dist/ back as meshward applies it (taking back changed fields). */
export function restore(kind: string, namespace: string, objectName: string): void {
  const object = objectsOfKind(kind).find(
    (o) => o.metadata.name === objectName && o.metadata.namespace === namespace,
  );
  if (object === undefined) throw new Error(`dist/ has no ${kind} ${namespace}/${objectName}`);
  kubectl(
    ['apply', '--server-side', '--field-manager=meshward', '--force-conflicts', '-f', '-'],
    JSON.stringify(object),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `probe()` returns what `want` accepts (config reaches Envoy within seconds) or the limit passes. */
export async function until<T>(probe: () => T, want: (value: T) => boolean, limitMs: number) {
  const started = Date.now();
  let value = probe();
  while (!want(value) && Date.now() - started < limitMs) {
    await sleep(1000);
    value = probe();
  }
  return value;
}
