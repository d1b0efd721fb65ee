/**
 * `meshward decide` as other tools drive it: the CLI spawned on dist/, one request line per call
 * hop on stdin, one decision line per hop on stdout. A call from the internet takes two hops, as
 * in the mesh: the ingress gateway (plaintext from the client's address), then the workload's
 * sidecar (mTLS from the gateway's identity).
 */
import { join } from 'node:path';
import {
  hostOf,
  type Decision,
  type Manifests,
  type MeshRequest,
  type RequestToken,
} from '../../../policies/engine/index.js';
import { ingressGateway, principalOf, type Workload } from '../../../policies/engine/workloads.js';
import { run } from './process.js';
import { distDir, repoRoot } from './tools.js';

export interface MeshCall {
  /**
   * `internet`: a client outside the mesh, through the ingress gateway; `plaintext`: an in-mesh
   * caller without a sidecar; otherwise the caller's mesh identity (mTLS).
   */
  readonly from: string;
  /**
   * The pod the call reaches the workload from (for an internet call: the gateway's), for the
   * NetworkPolicies; without it they are not checked (a lone Envoy enforces none).
   */
  readonly fromPod?: { readonly namespace: string; readonly labels: Record<string, string> };
  readonly to: Workload;
  readonly method: string;
  readonly path: string;
  readonly token?: RequestToken;
}

/** Runs `meshward decide --manifests MANIFESTS` on the requests; throws unless it answers each. */
export function decideWithCli(
  requests: readonly MeshRequest[],
  manifests: string = distDir,
): Decision[] {
  const result = run(
    process.execPath,
    [join(repoRoot, 'policies/engine/bin/meshward.js'), 'decide', '--manifests', manifests],
    { input: requests.map((request) => `${JSON.stringify(request)}\n`).join('') },
  );
  const lines = result.stdout.split('\n').filter((line) => line !== '');
  if (result.status !== 0 || lines.length !== requests.length) {
    throw new Error(
      `meshward decide exited ${String(result.status)} with ${String(lines.length)} of ${String(requests.length)} decisions:\n${result.stderr}`,
    );
  }
  return lines.map((line) => JSON.parse(line) as Decision);
}

/** The port a request arrives on: the workload's first container port. */
function portOf(workload: Workload): { port?: number } {
  const port = workload.ports.at(0);
  return port === undefined ? {} : { port };
}

/**
 * Decides every call with one CLI run, giving each call's decision per hop: for an internet call
 * the gateway's, then the workload sidecar's; for an in-mesh call the sidecar's alone.
 */
export function decideHops(
  manifests: Manifests,
  calls: readonly MeshCall[],
  clientIp: string,
): Decision[][] {
  const gateway = ingressGateway(manifests, 'istio-system');
  const requests: MeshRequest[] = [];
  const hops = calls.map((call) => {
    const base = {
      method: call.method,
      path: call.path,
      host: hostOf(manifests, call.to),
      protocol: 'http' as const,
      tokens: call.token === undefined ? [] : [call.token],
    };
    const toWorkload = {
      namespace: call.to.namespace,
      labels: call.to.labels,
      ...portOf(call.to),
    };
    const first = requests.length;
    if (call.from === 'internet') {
      requests.push(
        {
          ...base,
          destination: {
            namespace: gateway.namespace,
            labels: gateway.labels,
            ...portOf(gateway),
          },
          source: { mtls: false, ip: clientIp },
          remoteIp: clientIp,
        },
        {
          ...base,
          destination: toWorkload,
          source: {
            mtls: true,
            principal: principalOf(gateway),
            ip: '10.0.0.9',
            ...(call.fromPod === undefined ? {} : { pod: call.fromPod }),
          },
          remoteIp: clientIp,
        },
      );
    } else {
      requests.push({
        ...base,
        destination: toWorkload,
        source: {
          ...(call.from === 'plaintext' ? { mtls: false } : { mtls: true, principal: call.from }),
          ip: '10.0.0.9',
          ...(call.fromPod === undefined ? {} : { pod: call.fromPod }),
        },
        remoteIp: '10.0.0.9',
      });
    }
    return { first, count: requests.length - first };
  });
  const decisions = decideWithCli(requests.map((request, i) => ({ ...request, id: i })));
  return hops.map(({ first, count }) => decisions.slice(first, first + count));
}

/**
 * Decides every call with one CLI run. An internet call is decided by the gateway hop when the
 * gateway refuses it, else by the workload hop behind it.
 */
export function decideCalls(
  manifests: Manifests,
  calls: readonly MeshCall[],
  clientIp: string,
): Decision[] {
  return decideHops(manifests, calls, clientIp).map((hops) => {
    const head = hops.at(0);
    const last = hops.at(-1);
    if (head === undefined || last === undefined) throw new Error('missing decision');
    return head.outcome === 'allow' ? last : head;
  });
}
