/**
 * The cluster path's own cost, on the running single-node cluster (`scripts/local-up.sh`):
 * how long `scripts/deploy.sh` takes to bring the shop's Deployments from nothing to every pod
 * Ready with its sidecar (deleted first), against a re-apply of the unchanged dist/ in the same run;
 * and the memory (working set, from the kubelet's summary API) of istiod and of all the
 * sidecars. Report rows: these depend on the machine more than on meshward.
 * Run alone: `npx tsx bench/cluster.bench.ts` (root; the cluster up).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { runAlone, type Row } from './table.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LOCAL = process.env.MESHWARD_LOCAL_DIR ?? '/var/tmp/meshward-local';
const CONTEXT = 'meshward-local';
const env = { ...process.env, PATH: `${LOCAL}/bin:${process.env.PATH ?? ''}` };

function run(command: string, args: readonly string[], timeoutMs = 900_000): string {
  const r = spawnSync(command, args, { encoding: 'utf8', env, cwd: ROOT, timeout: timeoutMs });
  if (r.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')}: exit ${String(r.status)}: ${(r.stderr || r.stdout).slice(-400)}`,
    );
  }
  return r.stdout;
}

const kubectl = (...args: string[]) => run(`${LOCAL}/bin/kubectl`, ['--context', CONTEXT, ...args]);

function timed(what: () => void): number {
  const started = Date.now();
  what();
  return (Date.now() - started) / 1000;
}

interface Summary {
  pods: {
    podRef: { name: string; namespace: string };
    containers?: { name: string; memory?: { workingSetBytes?: number } }[];
  }[];
}

export function benchCluster(
  progress = (line: string) => process.stderr.write(`  ${line}\n`),
): Row[] {
  if (!existsSync(`${LOCAL}/pki/admin.kubeconfig`)) {
    throw new Error(
      `the single-node cluster is not up (no ${LOCAL}/pki/admin.kubeconfig): run scripts/local-up.sh`,
    );
  }
  const deploy = () => run('bash', ['scripts/deploy.sh', '--context', CONTEXT]);
  const again = timed(deploy);
  progress(`re-apply of the unchanged dist/: ${again.toFixed(0)} s`);
  // The Deployments only: the namespace keeps the Secrets local-up.sh made outside dist/.
  kubectl('-n', 'shop', 'delete', 'deployments', '--all', '--wait', '--timeout=300s');
  const fresh = timed(deploy);
  progress(`shop's Deployments from nothing to Ready: ${fresh.toFixed(0)} s`);
  const node = kubectl('get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}').trim();
  const summary = JSON.parse(
    kubectl('get', '--raw', `/api/v1/nodes/${node}/proxy/stats/summary`),
  ) as Summary;
  const memory = (pick: (pod: string, ns: string, container: string) => boolean) =>
    summary.pods
      .flatMap((p) =>
        (p.containers ?? []).filter((c) => pick(p.podRef.name, p.podRef.namespace, c.name)),
      )
      .reduce((n, c) => n + (c.memory?.workingSetBytes ?? 0), 0);
  const istiod = memory((pod, ns) => ns === 'istio-system' && pod.startsWith('istiod-'));
  const sidecars = summary.pods.filter((p) =>
    (p.containers ?? []).some((c) => c.name === 'istio-proxy'),
  );
  const proxies = memory((_, __, c) => c === 'istio-proxy');
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return [
    {
      section: 'cluster',
      figure: "deploy.sh: the shop's Deployments from nothing to Ready (vs re-apply of dist/)",
      value: `${fresh.toFixed(0)} s`,
      baseline: `${again.toFixed(0)} s`,
      ratio: fresh / again,
      target: 'report',
      ok: true,
    },
    {
      section: 'cluster',
      figure: 'istiod memory (working set)',
      value: mib(istiod),
      baseline: '',
      ratio: NaN,
      target: 'report',
      ok: istiod > 0,
    },
    {
      section: 'cluster',
      figure: `sidecar memory, ${String(sidecars.length)} pods (working set, sum)`,
      value: mib(proxies),
      baseline: '',
      ratio: NaN,
      target: 'report',
      ok: proxies > 0,
    },
  ];
}

if (fileURLToPath(import.meta.url) === process.argv.at(1)) runAlone(benchCluster());
