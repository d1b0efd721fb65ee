/**
 * The access matrix replayed on the live mesh: every cell of `meshward matrix` whose caller can
 * be a pod (a probe pod under each service's ServiceAccount with its sidecar, a plaintext pod
 * outside the mesh, an internet client at the gateway) and whose principal has a real Keycloak
 * token, sent for real; the live outcome (Envoy configured by istiod decides) must equal the
 * matrix's. A disagreement fails naming the cell.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { objectsOfKind } from '../components/dist.js';
import {
  type GatewayAnswer,
  GatewayClient,
  outcomeOf,
  secretValue,
  summaryHeaders,
} from '../components/gateway-client.js';
import {
  inProbe,
  kubectl,
  localCluster,
  removeProbeOwners,
  requireLocalCluster,
  startProbe,
} from '../components/local-cluster.js';
import { tampered } from '../components/oidc.js';
import { repoRoot } from '../components/tools.js';

interface Cell {
  readonly service: string;
  readonly method: string;
  readonly path: string;
  readonly caller: string;
  readonly principal: string;
  readonly outcome: string;
  readonly status: number;
}

interface MatrixPrincipal {
  readonly name: string;
  readonly kind: string;
  readonly realm?: {
    readonly client: string;
    readonly requested: readonly string[];
    readonly holders: readonly string[];
  };
}

interface MatrixCaller {
  readonly name: string;
  readonly kind: string;
  readonly principal?: string;
  /** the pod NetworkPolicies see the caller as */
  readonly pod: { readonly namespace: string; readonly labels: Record<string, string> };
}

interface Matrix {
  readonly cells: readonly Cell[];
  readonly principals: readonly MatrixPrincipal[];
  readonly callers: readonly MatrixCaller[];
}

/**
 * The address the gateway sees for a process on the node calling its ClusterIP: kube-proxy
 * masquerades it to the pod bridge's own.
 */
const NODE_BRIDGE_IP = '10.244.0.1';

let client: GatewayClient;
let cachedTokens: Map<string, string | undefined> | undefined;

/**
 * `meshward matrix --json` of dist/ for internet clients from CLIENT_IP. The CLI exits 1 when
 * outcomes differ from the routes' intent (every edge cell, for an address outside the
 * allowlist); the matrix is on stdout either way.
 */
function matrixFor(clientIp: string): Matrix {
  const result = spawnSync(
    'node',
    [
      join(repoRoot, 'policies/engine/bin/meshward.js'),
      'matrix',
      '--manifests',
      join(repoRoot, 'dist'),
      '--client-ip',
      clientIp,
      '--json',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.status !== 0 && result.status !== 1) {
    throw new Error(`meshward matrix failed (${String(result.status)}): ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as Matrix;
}

/**
 * A real token for every principal of the matrix that can have one: users through the login
 * form (the password Secret of the demo users), clients through client credentials, "forged" a
 * real token with a changed claim (its signature no longer holds). "none" sends no token; a
 * principal with no real token (another issuer) is left out.
 */
function realTokens(principals: readonly MatrixPrincipal[]): Map<string, string | undefined> {
  const tokens = new Map<string, string | undefined>();
  for (const principal of principals) {
    const realm = principal.realm;
    if (principal.kind === 'none') tokens.set(principal.name, undefined);
    if (principal.kind === 'user' && realm !== undefined) {
      const user = realm.holders[0];
      const password = secretValue('auth', 'keycloak-demo-users', `${user}-password`);
      tokens.set(principal.name, client.pkceToken(user, password, realm.client, realm.requested));
    }
    if (principal.kind === 'client' && realm !== undefined) {
      const secret = secretValue('auth', `${realm.client}-oauth`, 'client-secret');
      tokens.set(principal.name, client.clientToken(realm.client, secret));
    }
  }
  const strongest = [...tokens.values()].filter((t): t is string => t !== undefined).at(-1);
  const forged = principals.find((p) => p.kind === 'forged');
  if (forged !== undefined && strongest !== undefined) {
    tokens.set(forged.name, tampered(strongest, { meshward_forged: true }));
  }
  return tokens;
}

/** service "ns/name" -> its in-cluster URL base (the Service's first port). */
function serviceUrls(): Map<string, string> {
  const urls = new Map<string, string>();
  for (const service of objectsOfKind('Service')) {
    const ports = (service.spec as { ports?: { port: number }[] }).ports ?? [];
    const port = ports.at(0)?.port;
    const namespace = service.metadata.namespace ?? 'default';
    if (port !== undefined && !urls.has(`${namespace}/${service.metadata.name}`)) {
      urls.set(
        `${namespace}/${service.metadata.name}`,
        `http://${service.metadata.name}.${namespace}.svc.cluster.local:${String(port)}`,
      );
    }
  }
  return urls;
}

/**
 * An answer to a probe pod with a sidecar: its connection ends at its own proxy, so no HTTP
 * answer at all (curl's empty reply) means that proxy closed it — the BlackHoleCluster of a port
 * its Sidecar egress has no listener for. A destination refusing it shows as the proxy's 503.
 */
function probeOutcome(answer: GatewayAnswer): string {
  const outcome = outcomeOf(answer);
  return outcome === 'reset' ? 'blocked' : outcome;
}

const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;

/**
 * One shell script that sends every request of a caller pod and prints, per request,
 * "INDEX CODE CURL-EXIT" then a line "B BODY-START" and a line "H HEADERS" (the summary headers).
 */
function script(
  requests: readonly { index: number; method: string; url: string; token?: string }[],
): string {
  const lines = [
    'r() {',
    '  i="$1"; m="$2"; u="$3"; t="$4"',
    '  rm -f /tmp/body /tmp/headers',
    '  set -- -s -D /tmp/headers -o /tmp/body --connect-timeout 3 -m 5 -w "%{http_code}"',
    '  [ -n "$t" ] && set -- "$@" -H "Authorization: Bearer $t"',
    '  if [ "$m" = HEAD ]; then set -- "$@" --head; else set -- "$@" -X "$m"; fi',
    '  code=$(curl "$@" "$u"); rc=$?',
    '  echo "$i $code $rc"',
    '  if [ "$m" = HEAD ]; then echo "B "; else echo "B $(head -c 40 /tmp/body 2>/dev/null | tr -d "\\n\\r")"; fi',
    '  echo "H $(tr -d "\\r" </tmp/headers 2>/dev/null | grep -i -E "^(content-type|content-length|www-authenticate):" | tr "\\n" "\\001")"',
    '}',
    ...requests.map(
      (r) => `r ${String(r.index)} ${r.method} ${quote(r.url)} ${quote(r.token ?? '')}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

function parseAnswers(out: string): Map<number, GatewayAnswer> {
  const answers = new Map<number, GatewayAnswer>();
  const lines = out.split('\n');
  for (let i = 0; i + 2 < lines.length; i += 1) {
    const head = /^(\d+) (\d+) (\d+)$/.exec(lines[i]);
    const body = lines[i + 1];
    const headers = lines[i + 2];
    if (head && body.startsWith('B ') && headers.startsWith('H ')) {
      answers.set(Number(head[1]), {
        code: head[2],
        exit: Number(head[3]),
        body: body.slice(2),
        headers: summaryHeaders(headers.slice(2).split('\u0001').join('\n')),
      });
      i += 2;
    }
  }
  return answers;
}

beforeAll(() => {
  requireLocalCluster();
  client = new GatewayClient();
});

afterAll(() => {
  client.close();
  removeProbeOwners();
  kubectl([
    'delete',
    'pods',
    '-A',
    '-l',
    'meshward.io/probe=matrix',
    '--wait=false',
    '--ignore-not-found',
  ]);
});

describe('the access matrix on the live mesh', () => {
  test('GIVEN the matrix of dist/ and real tokens for its principals WHEN every cell whose caller can be a pod is sent for real THEN the live outcome equals the matrix outcome, cell by cell', () => {
    const matrix = matrixFor(localCluster.officeIp);
    const tokens = realTokens(matrix.principals);
    cachedTokens = tokens;
    const urls = serviceUrls();
    const tlsHosts = gatewayTlsHosts();
    const cells = matrix.cells.filter((cell) => tokens.has(cell.principal));
    const byCaller = new Map<string, { index: number; cell: Cell }[]>();
    cells.forEach((cell, index) => {
      byCaller.set(cell.caller, [...(byCaller.get(cell.caller) ?? []), { index, cell }]);
    });

    const live = new Map<number, GatewayAnswer>();
    for (const caller of matrix.callers) {
      const list = byCaller.get(caller.name) ?? [];
      if (caller.kind === 'gateway') {
        // An internet client from the office address (inside the allowlist), through the
        // NodePort: TLS to the gateway with the service's public host.
        for (const { index, cell } of list) {
          const host = hostAtGateway(cell.service);
          const sni = tlsHosts.includes(host) ? host : (tlsHosts.at(0) ?? host);
          live.set(
            index,
            client.request(cell.method, sni, host, cell.path, tokens.get(cell.principal)),
          );
        }
        continue;
      }
      const match = /^cluster\.local\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(caller.principal ?? '');
      const namespace = caller.pod.namespace;
      if (caller.kind !== 'plaintext' && match?.[1] !== namespace)
        throw new Error(`caller ${caller.name} has no pod identity in ${namespace}`);
      const pod = `meshward-matrix-${caller.kind === 'plaintext' ? 'plaintext' : (match?.[2] ?? 'x')}`;
      // A service caller is its workload for NetworkPolicies too (its pod labels), but never an
      // endpoint of the workload's Services.
      startProbe({
        name: pod,
        namespace,
        inject: caller.kind !== 'plaintext',
        serviceAccount: match?.[2],
        labels: {
          ...(caller.kind === 'plaintext' ? {} : caller.pod.labels),
          'meshward.io/probe': 'matrix',
        },
        endpoint: caller.kind === 'plaintext',
      });
      const send = (entries: readonly { index: number; cell: Cell }[]) => {
        const requests = entries.map(({ index, cell }) => ({
          index,
          method: cell.method,
          url: `${urls.get(cell.service) ?? `http://unknown.${cell.service}`}${cell.path}`,
          token: tokens.get(cell.principal),
        }));
        return parseAnswers(
          inProbe(namespace, pod, ['sh', '-s'], {
            input: script(requests),
            timeoutMs: 600_000,
          }),
        );
      };
      // Whether the connection is made is decided before any byte of HTTP (a NetworkPolicy acts
      // on the caller's pod, the destination's and the port): one request per service finds
      // out. Where that connection cannot be made, no cell of the service can; elsewhere every
      // cell is sent.
      const byService = new Map<string, { index: number; cell: Cell }[]>();
      for (const entry of list) {
        byService.set(entry.cell.service, [...(byService.get(entry.cell.service) ?? []), entry]);
      }
      const firsts = [...byService.values()].map((entries) => entries[0]);
      const first = send(firsts);
      const rest: { index: number; cell: Cell }[] = [];
      for (const entries of byService.values()) {
        const answer = first.get(entries[0].index);
        const judged =
          answer === undefined
            ? undefined
            : (caller.kind === 'plaintext' ? outcomeOf : probeOutcome)(answer);
        if (answer !== undefined && (judged === 'unreachable' || judged === 'blocked')) {
          for (const { index } of entries) live.set(index, answer);
        } else {
          rest.push(...entries);
        }
      }
      for (const [index, answer] of send(rest)) live.set(index, answer);
    }

    const callerKinds = new Map(matrix.callers.map((c) => [c.name, c.kind]));
    const disagreements: string[] = [];
    cells.forEach((cell, index) => {
      const answer = live.get(index);
      const got =
        answer === undefined
          ? 'no answer'
          : callerKinds.get(cell.caller) === 'gateway' ||
              callerKinds.get(cell.caller) === 'plaintext'
            ? outcomeOf(answer)
            : probeOutcome(answer);
      // A refusal by the caller's own proxy: its 502, or (no listener on the port) no answer.
      const sameBlock = got !== 'blocked' || Number(answer?.code ?? -1) === cell.status;
      if (got !== cell.outcome || !sameBlock) {
        disagreements.push(
          `${cell.service} ${cell.method} ${cell.path} | caller ${cell.caller} | ${cell.principal}: matrix ${cell.outcome} ${String(cell.status)}, live ${got} ${answer?.code ?? ''} ${answer?.body ?? ''} ${answer?.headers ?? ''}`,
        );
      }
    });
    const skipped = matrix.cells.length - cells.length;
    process.stdout.write(
      `compared ${String(cells.length)} cells of ${String(matrix.cells.length)} on the live mesh (${String(skipped)} without a real token: ${[...new Set(matrix.cells.filter((c) => !tokens.has(c.principal)).map((c) => c.principal))].join(', ')}; ${String(cells.filter((c) => c.outcome === 'blocked').length)} refused by the caller's own Sidecar egress); ${String(disagreements.length)} disagree\n`,
    );
    expect(disagreements).toEqual([]);
    expect(cells.length).toBeGreaterThan(1000);
    // Egress least privilege was exercised: undeclared calls refused at the caller, both ways.
    const blocked = cells.filter((c) => c.outcome === 'blocked');
    expect(new Set(blocked.map((c) => c.status))).toEqual(new Set([0, 502]));
  }, 900_000);

  /** Every gateway cell with a real token, sent FROM a client; the cells that disagree with MATRIX. */
  function gatewayDisagreements(
    matrix: Matrix,
    from: GatewayClient,
  ): { cells: Cell[]; disagreements: string[] } {
    const tokens = cachedTokens ?? realTokens(matrix.principals);
    const tlsHosts = gatewayTlsHosts();
    const gatewayCaller = matrix.callers.find((c) => c.kind === 'gateway')?.name;
    const cells = matrix.cells.filter(
      (cell) => cell.caller === gatewayCaller && tokens.has(cell.principal),
    );
    const disagreements: string[] = [];
    for (const cell of cells) {
      const host = hostAtGateway(cell.service);
      const sni = tlsHosts.includes(host) ? host : (tlsHosts.at(0) ?? host);
      const answer = from.request(cell.method, sni, host, cell.path, tokens.get(cell.principal));
      const got = outcomeOf(answer);
      if (got !== cell.outcome) {
        disagreements.push(
          `${cell.service} ${cell.method} ${cell.path} | ${cell.principal}: matrix ${cell.outcome}, live ${got} ${answer.code} ${answer.body}`,
        );
      }
    }
    return { cells, disagreements };
  }

  test('GIVEN an internet client from an address outside the gateway IP allowlist WHEN every gateway cell is sent from it through the NodePort THEN the live outcome equals the matrix for that address, which refuses it everywhere', () => {
    const outside = localCluster.outsideIp;
    const matrix = matrixFor(outside);
    const direct = new GatewayClient({ source: outside });
    let result: { cells: Cell[]; disagreements: string[] };
    try {
      result = gatewayDisagreements(matrix, direct);
    } finally {
      direct.close();
    }
    process.stdout.write(
      `compared ${String(result.cells.length)} gateway cells from ${outside}; ${String(result.disagreements.length)} disagree\n`,
    );
    expect(result.disagreements).toEqual([]);
    expect(result.cells.length).toBeGreaterThan(100);
    expect(result.cells.every((cell) => cell.outcome !== 'allow')).toBe(true);
  }, 600_000);

  // Red-team M2: with externalTrafficPolicy Cluster every client took on a node address, which
  // the old allowlist (all of 10/8, 172.16/12, 192.168/16) admitted. The Service now keeps
  // client addresses (Local), and the allowlist leaves the cluster's own ranges out.
  test('GIVEN the gateway Service and a client the cluster rewrites (a process on the node calling the ClusterIP, SNATed to the pod bridge address) WHEN every gateway cell is sent THEN the Service is externalTrafficPolicy Local and the rewritten client is refused everywhere, as the matrix for that address says', () => {
    const policy = kubectl([
      '-n',
      'istio-system',
      'get',
      'service/istio-ingressgateway',
      '-o',
      'jsonpath={.spec.externalTrafficPolicy}',
    ]);
    expect(policy).toBe('Local');
    const matrix = matrixFor(NODE_BRIDGE_IP);
    const node = new GatewayClient({ via: 'node' });
    let result: { cells: Cell[]; disagreements: string[] };
    try {
      result = gatewayDisagreements(matrix, node);
    } finally {
      node.close();
    }
    process.stdout.write(
      `compared ${String(result.cells.length)} gateway cells from the node (${NODE_BRIDGE_IP} after SNAT); ${String(result.disagreements.length)} disagree\n`,
    );
    expect(result.disagreements).toEqual([]);
    expect(result.cells.every((cell) => cell.outcome !== 'allow')).toBe(true);
  }, 600_000);
});

/** The server names the Gateway of dist/ terminates TLS for (an internet client can name only these). */
function gatewayTlsHosts(): string[] {
  return objectsOfKind('Gateway').flatMap((gateway) =>
    ((gateway.spec as { servers?: { hosts?: string[]; tls?: unknown }[] }).servers ?? [])
      .filter((server) => server.tls !== undefined)
      .flatMap((server) => (server.hosts ?? []).map((h) => h.replace(/^[^/]*\//, ''))),
  );
}

/** The public host a service is reached by at the gateway (its VirtualService's first host). */
function hostAtGateway(service: string): string {
  const fqdn = `${service.split('/').reverse().join('.')}.svc.cluster.local`;
  for (const vs of objectsOfKind('VirtualService')) {
    const spec = vs.spec as {
      hosts?: string[];
      http?: { route?: { destination?: { host?: string } }[] }[];
    };
    const routes = (spec.http ?? []).flatMap((h) => h.route ?? []);
    if (routes.some((r) => r.destination?.host === fqdn)) return spec.hosts?.at(0) ?? fqdn;
  }
  return fqdn;
}
