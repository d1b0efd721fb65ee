import { audiencesOf, type ClaimsPredicate, compileConditions } from '../../contract/claims.js';
import { parseRoutes, type RouteEntry, ROUTES_ANNOTATION } from '../../contract/routes.js';
import { authSignature, compile, type CompiledManifests, decide, peerSignature } from './engine.js';
import { pathMatcher, samplePath } from './match.js';
import {
  type Decision,
  type EngineOptions,
  type Manifests,
  type MeshRequest,
  type RequestToken,
} from './model.js';
import { type MatrixPrincipal, matrixPrincipals } from './principals.js';
import { type RealmFile, realmsOf } from './realms.js';
import { hostOf, routesOf } from './route-intents.js';
import {
  INGRESS_GATEWAY_PRINCIPAL,
  ingressGateway,
  principalOf,
  type Workload,
  workloadsOf,
} from './workloads.js';

/** One route of a workload's `meshward.io/routes` intent (contract/routes.ts). */
export type RouteIntent = RouteEntry;

export interface MatrixCaller {
  readonly name: string;
  readonly kind: 'gateway' | 'service' | 'plaintext';
  readonly principal: string | undefined;
  /**
   * The pod the caller's connection comes from, as NetworkPolicies see it: the (first)
   * workload with the principal's ServiceAccount, the ingress gateway's pod, or for
   * `plaintext` a pod without labels in `default`.
   */
  readonly pod: { readonly namespace: string; readonly labels: Record<string, string> };
}

export interface MatrixCell {
  readonly service: string;
  readonly route: string;
  readonly method: string;
  readonly path: string;
  readonly caller: string;
  /** The column: a principal's name (`MatrixPrincipal.name`). */
  readonly principal: string;
  readonly outcome: Decision['outcome'];
  readonly status: number;
  readonly reason: string;
  readonly policies: readonly string[];
  /** `any`: a bad or untrusted token on a public route (401 or ignored are both fine). */
  readonly intended: 'allow' | 'deny' | 'any';
}

export interface MatrixOptions extends EngineOptions {
  /** The internet client's address as the gateway sees it. @default '203.0.113.7' */
  readonly clientIp?: string;
  /** Realm JSON files beyond those in the manifests (`--realm`). @default - none */
  readonly realmFiles?: readonly RealmFile[];
}

export interface Matrix {
  readonly services: readonly string[];
  readonly callers: readonly MatrixCaller[];
  readonly principals: readonly MatrixPrincipal[];
  /** Where the principals come from (realms, or claims derived from the policies). */
  readonly notes: readonly string[];
  readonly cells: readonly MatrixCell[];
  /** The address the `internet (gateway)` caller comes from (`--client-ip`). */
  readonly clientIp: string;
}

export { ROUTES_ANNOTATION, parseRoutes, samplePath, routesOf, hostOf };
const PUBLIC_IP = '203.0.113.7';

interface RoutedService {
  readonly workload: Workload;
  /** The :authority callers use: the VirtualService host routing to it, else the cluster name. */
  readonly host: string;
  readonly routes: readonly RouteIntent[];
  readonly port: number | undefined;
}

function routedServices(m: Manifests): RoutedService[] {
  const out: RoutedService[] = [];
  for (const w of workloadsOf(m)) {
    const routes = routesOf(m, w);
    if (routes === undefined) continue;
    out.push({ workload: w, host: hostOf(m, w), routes, port: w.ports[0] });
  }
  return out.sort((a, b) =>
    `${a.workload.namespace}/${a.workload.name}`.localeCompare(
      `${b.workload.namespace}/${b.workload.name}`,
    ),
  );
}

function callersOf(m: Manifests, gw: Workload): MatrixCaller[] {
  const seen = new Set<string>([INGRESS_GATEWAY_PRINCIPAL]);
  const services: MatrixCaller[] = [];
  for (const w of workloadsOf(m)) {
    const principal = principalOf(w);
    if (seen.has(principal) || w.labels.istio === 'ingressgateway') continue;
    seen.add(principal);
    services.push({
      name: `${w.namespace}/${w.serviceAccount}`,
      kind: 'service',
      principal,
      pod: { namespace: w.namespace, labels: w.labels },
    });
  }
  services.sort((a, b) => a.name.localeCompare(b.name));
  return [
    {
      name: 'internet (gateway)',
      kind: 'gateway',
      principal: INGRESS_GATEWAY_PRINCIPAL,
      pod: { namespace: gw.namespace, labels: gw.labels },
    },
    ...services,
    { name: 'plaintext', kind: 'plaintext', principal: undefined, pod: PLAINTEXT_POD },
  ];
}

/** Where the matrix's plaintext caller runs: a pod outside the mesh, in `default`, unlabelled. */
const PLAINTEXT_POD = { namespace: 'default', labels: {} };

/**
 * What the JWT steps on a request's way know: whether each hop with a RequestAuthentication
 * trusts an issuer (the gateway's and the service's, for internet callers), and the
 * service's space-delimited claims.
 */
interface TrustContext {
  readonly trusts: (caller: MatrixCaller, issuer: string) => boolean;
  readonly spaceDelimited: ReadonlySet<string>;
}

const callerAllowed = (route: RouteIntent, caller: MatrixCaller): boolean =>
  route.principals.length === 0 ||
  (caller.principal !== undefined && route.principals.includes(caller.principal));

/** What the route's intent says of a caller presenting a principal's token. */
function intended(
  { route, when }: CompiledRoute,
  caller: MatrixCaller,
  tok: RequestToken | undefined,
  trust: TrustContext,
): 'allow' | 'deny' | 'any' {
  if (!callerAllowed(route, caller)) return 'deny';
  if (route.public) {
    if (tok === undefined) return 'allow';
    // A bad token, or one of an issuer this workload does not know, is refused (401) where a
    // RequestAuthentication applies and ignored where none does: either is fine.
    if (tok.valid === false) return 'any';
    return trust.trusts(caller, String(tok.claims.iss)) ? 'allow' : 'any';
  }
  if (tok === undefined || tok.valid === false) return 'deny';
  if (tok.claims.iss !== route.issuer) return 'deny';
  const aud = audiencesOf(tok.claims);
  if (route.audiences.length > 0 && !route.audiences.some((a) => aud.includes(a))) return 'deny';
  return when(tok.claims) ? 'allow' : 'deny';
}

/** A route with its path patterns and token conditions compiled once. */
interface CompiledRoute {
  readonly route: RouteIntent;
  readonly paths: readonly ((path: string) => boolean)[];
  readonly when: ClaimsPredicate;
}

/**
 * The intent for a request: every route that matches it and admits the caller must allow it
 * (the strictest wins). ALLOW rules are ORed, so where a weaker route overlaps a stricter one
 * the mesh lets the request through and this reports the mismatch (red-team M3); routes for
 * other callers (`/realms/x/*` for the gateway, `/realms/x/token` for a job) do not constrain
 * each other. No route admitting the caller: deny.
 */
function intendedOverRoutes(
  routes: readonly CompiledRoute[],
  method: string,
  path: string,
  caller: MatrixCaller,
  tok: RequestToken | undefined,
  trust: TrustContext,
): 'allow' | 'deny' | 'any' {
  const admitting = admittingRoutes(routes, method, path, caller);
  if (admitting.length === 0) return 'deny';
  let any = false;
  for (const compiled of admitting) {
    const v = intended(compiled, caller, tok, trust);
    if (v === 'deny') return 'deny';
    if (v === 'any') any = true;
  }
  return any ? 'any' : 'allow';
}

/** The routes that match the request and admit the caller, in order. */
function admittingRoutes(
  routes: readonly CompiledRoute[],
  method: string,
  path: string,
  caller: MatrixCaller,
): CompiledRoute[] {
  return routes.filter(
    ({ route: r, paths }) =>
      (r.methods === null || r.methods.includes(method)) &&
      paths.some((m) => m(path)) &&
      callerAllowed(r, caller),
  );
}

/**
 * Do only routes open to every caller (`principals: []`) admit the caller's request? Such a route
 * leaves the callers to the network: a NetworkPolicy refusing the connection (the JWKS that
 * only istiod needs) is as intended as the mesh letting it through.
 */
function openToAll(
  routes: readonly CompiledRoute[],
  method: string,
  path: string,
  caller: MatrixCaller,
): boolean {
  return admittingRoutes(routes, method, path, caller).every(
    ({ route }) => route.principals.length === 0,
  );
}

/** What the route intents read of the caller beyond the token: which routes admit its principal. */
function intentSignature(routes: readonly CompiledRoute[], caller: MatrixCaller): string {
  return routes.map(({ route }) => (callerAllowed(route, caller) ? '1' : '0')).join('');
}

/** What a cell holds of its decision and intent; shared by the callers of one group. */
type CellOutcome = Pick<MatrixCell, 'outcome' | 'status' | 'reason' | 'policies' | 'intended'>;

/** The matrix's inputs for one service, shared by every cell of it. */
interface MatrixContext {
  readonly compiled: CompiledManifests;
  readonly gw: Workload;
  readonly gatewayHop: boolean;
  readonly clientIp: string;
  readonly svc: RoutedService;
}

/** The request a caller sends for one cell: to the service, through the gateway's mTLS hop. */
function cellRequest(
  x: MatrixContext,
  caller: MatrixCaller,
  tokens: readonly RequestToken[],
  method: string,
  path: string,
): MeshRequest {
  const w = x.svc.workload;
  return {
    method,
    path,
    protocol: 'http',
    host: x.svc.host,
    tokens,
    destination: {
      namespace: w.namespace,
      labels: w.labels,
      port: x.svc.port,
      portName: x.svc.port === undefined ? undefined : w.portNames[x.svc.port],
    },
    source: caller.principal
      ? { mtls: true, principal: caller.principal, ip: '10.0.0.9', pod: caller.pod }
      : { mtls: false, ip: '10.0.0.9', pod: caller.pod },
    remoteIp: caller.kind === 'gateway' ? x.clientIp : '10.0.0.9',
  };
}

/** One cell's decision: the gateway hop for internet callers, then the service. */
function cellDecision(
  x: MatrixContext,
  caller: MatrixCaller,
  tokens: readonly RequestToken[],
  method: string,
  path: string,
): Decision {
  if (caller.kind === 'gateway' && x.gatewayHop) {
    const hop: MeshRequest = {
      method,
      path,
      protocol: 'http',
      host: x.svc.host,
      tokens,
      destination: { namespace: x.gw.namespace, labels: x.gw.labels, port: x.gw.ports[0] },
      source: { mtls: false, ip: x.clientIp },
      remoteIp: x.clientIp,
    };
    const g = decide(x.compiled, hop);
    if (g.outcome !== 'allow') return { ...g, reason: `gateway: ${g.reason}` };
  }
  return decide(x.compiled, cellRequest(x, caller, tokens, method, path));
}

/**
 * The access matrix: every caller × every annotated route × token kind, decided by the
 * engine, with the outcome the `meshward.io/routes` intent expects.
 *
 * Callers that nothing tells apart get the same cells: per service and token kind, the
 * callers are grouped by their kind, their `peerSignature` and `authSignature` (what the
 * service's policies can observe of their connection and token, computed from the compiled
 * policies) and what the route intents read of them; each request is decided once per
 * group. The gateway caller is always alone. (For the 200-service benchmark mesh this
 * takes the matrix from 32.5 s to 1.5 s; `matrixPerCell` is the reference.)
 */
export function matrix(manifests: Manifests, options: MatrixOptions = {}): Matrix {
  return buildMatrix(manifests, options, true);
}

/**
 * The access matrix decided cell by cell, every caller on its own: the reference the
 * grouped `matrix()` is tested against.
 * @internal
 */
export function matrixPerCell(manifests: Manifests, options: MatrixOptions = {}): Matrix {
  return buildMatrix(manifests, options, false);
}

function buildMatrix(manifests: Manifests, options: MatrixOptions, grouped: boolean): Matrix {
  const clientIp = options.clientIp ?? PUBLIC_IP;
  const root = options.rootNamespace ?? 'istio-system';
  const compiled = compile(manifests, options);
  const gw = ingressGateway(manifests, root);
  const gwPlan = compiled.plan(gw.namespace, gw.labels);
  const gatewayHop =
    gwPlan.jwtRules.length > 0 ||
    gwPlan.allow.length + gwPlan.deny.length + gwPlan.custom.length > 0;
  const callers = callersOf(manifests, gw);
  const { principals, notes } = matrixPrincipals(
    manifests,
    realmsOf(manifests, options.realmFiles ?? []),
  );
  const cells: MatrixCell[] = [];
  const services = routedServices(manifests);
  for (const svc of services) {
    const w = svc.workload;
    const serviceName = `${w.namespace}/${w.name}`;
    const plan = compiled.plan(w.namespace, w.labels);
    const hopTrusts = (p: typeof plan, issuer: string) =>
      p.jwtRules.length === 0 || p.jwtRules.some((r) => r.issuer === issuer);
    const trust: TrustContext = {
      trusts: (caller, issuer) =>
        hopTrusts(plan, issuer) &&
        (caller.kind !== 'gateway' || !gatewayHop || hopTrusts(gwPlan, issuer)),
      spaceDelimited: new Set(plan.jwtRules.flatMap((r) => [...r.spaceDelimitedClaims])),
    };
    const x: MatrixContext = { compiled, gw, gatewayHop, clientIp, svc };
    const routes: CompiledRoute[] = svc.routes.map((route) => ({
      route,
      paths: route.paths.map(pathMatcher),
      when: compileConditions(route.when, trust.spaceDelimited),
    }));
    // Per principal: each caller's group and one representative per group. A group: callers
    // of the same kind whose requests the service's policies (peer and auth signatures) and
    // the route intents (intent signature) cannot tell apart.
    const peers = grouped
      ? callers.map((caller) => peerSignature(compiled, cellRequest(x, caller, [], 'GET', '/')))
      : [];
    const intents = callers.map((caller) => intentSignature(routes, caller));
    const groups = principals.map(({ token: tok }) => {
      // The auth signature reads only the token: one per principal.
      const auth = grouped
        ? authSignature(compiled, cellRequest(x, callers[0], tok ? [tok] : [], 'GET', '/'))
        : '';
      const index = new Map<string, number>();
      const reps: number[] = [];
      const of = callers.map((caller, ci) => {
        const key =
          !grouped || caller.kind === 'gateway'
            ? `alone ${ci}`
            : `${caller.kind} ${peers[ci] ?? ''} ${auth} ${intents[ci] ?? ''}`;
        let g = index.get(key);
        if (g === undefined) {
          index.set(key, (g = reps.length));
          reps.push(ci);
        }
        return g;
      });
      return { tok, of, reps };
    });
    for (const route of svc.routes) {
      const routeLabel = `${route.methods?.join(',') ?? '*'} ${route.paths.join(' ')}`;
      for (const method of route.methods ?? ['GET']) {
        for (const pattern of route.paths) {
          const path = samplePath(pattern);
          // Decide and judge once per group, then fill every caller's cells in order.
          const outcomes = groups.map(({ tok, reps }) =>
            reps.map((ci): CellOutcome => {
              const caller = callers[ci];
              const d = cellDecision(x, caller, tok ? [tok] : [], method, path);
              const want = intendedOverRoutes(routes, method, path, caller, tok, trust);
              return {
                outcome: d.outcome,
                status: d.status,
                reason: d.reason,
                policies: d.policies,
                intended:
                  (d.outcome === 'unreachable' || d.outcome === 'blocked') &&
                  want === 'allow' &&
                  openToAll(routes, method, path, caller)
                    ? 'any'
                    : want,
              };
            }),
          );
          for (let ci = 0; ci < callers.length; ci++) {
            const callerName = callers[ci].name;
            for (let pi = 0; pi < principals.length; pi++) {
              const o = outcomes[pi][groups[pi].of[ci]];
              cells.push({
                service: serviceName,
                route: routeLabel,
                method,
                path,
                caller: callerName,
                principal: principals[pi].name,
                outcome: o.outcome,
                status: o.status,
                reason: o.reason,
                policies: o.policies,
                intended: o.intended,
              });
            }
          }
        }
      }
    }
  }
  return {
    services: services.map((s) => `${s.workload.namespace}/${s.workload.name}`),
    callers,
    principals,
    notes,
    cells,
    clientIp,
  };
}

export interface Mismatch {
  readonly service: string;
  readonly route: string;
  readonly request: string;
  readonly caller: string;
  readonly principal: string;
  readonly actual: string;
  readonly intended: 'allow' | 'deny' | 'any';
}

/** Cells where the mesh's decision differs from the annotated intent. */
export function mismatches(m: Matrix): Mismatch[] {
  return m.cells
    .filter((c) => c.intended !== 'any' && (c.outcome === 'allow') !== (c.intended === 'allow'))
    .map((c) => ({
      service: c.service,
      route: c.route,
      request: `${c.method} ${c.path}`,
      caller: c.caller,
      principal: c.principal,
      actual: `${c.outcome} ${c.status}`,
      intended: c.intended,
    }));
}

function code(c: MatrixCell): string {
  const a =
    c.outcome === 'allow'
      ? 'A'
      : c.outcome === 'reset'
        ? 'R'
        : c.outcome === 'unreachable'
          ? 'X'
          : c.outcome === 'blocked'
            ? 'B'
            : c.status === 401
              ? 'U'
              : c.status === 400
                ? 'E'
                : 'D';
  return c.intended !== 'any' && (c.outcome === 'allow') !== (c.intended === 'allow') ? `${a}!` : a;
}

/** Terminal table: one row per service × request × caller, one column per principal. */
export function formatMatrix(m: Matrix): string {
  const rows = new Map<string, MatrixCell[]>();
  for (const c of m.cells) {
    const key = `${c.service}\t${c.method} ${c.path}\t${c.caller}`;
    rows.set(key, [...(rows.get(key) ?? []), c]);
  }
  const names = m.principals.map((p) => p.name);
  const header = ['service', 'request', 'caller', ...names];
  const body = [...rows.entries()].map(([key, cells]) => [
    ...key.split('\t'),
    ...names.map((t) => {
      const c = cells.find((x) => x.principal === t);
      return c ? code(c) : '-';
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const n = mismatches(m).length;
  return [
    ...m.notes.map((note) => `# ${note}`),
    line(header),
    ...body.map(line),
    '',
    "A allow, D deny 403, U unauthenticated 401, R reset (plaintext vs STRICT), X unreachable (NetworkPolicy), B blocked by the caller's Sidecar egress, E 400; ! = differs from meshward.io/routes intent",
    `internet (gateway) calls come from ${m.clientIp} (--client-ip)`,
    `${n} mismatch(es)`,
    '',
  ].join('\n');
}

/** Mermaid flowchart of what is allowed: caller → service, labelled with requests and tokens. */
export function formatMermaid(m: Matrix): string {
  const id = (s: string) => s.replace(/[^A-Za-z0-9]/g, '_');
  const edges = new Map<string, Set<string>>();
  for (const c of m.cells) {
    if (c.outcome !== 'allow') continue;
    const key = `${c.caller}\t${c.service}`;
    const set = edges.get(key) ?? new Set<string>();
    set.add(`${c.method} ${c.path}`);
    edges.set(key, set);
  }
  const lines = ['flowchart LR'];
  for (const c of m.callers) lines.push(`  ${id(`c_${c.name}`)}["${c.name}"]`);
  for (const s of m.services) lines.push(`  ${id(`s_${s}`)}[("${s}")]`);
  for (const [key, reqs] of edges) {
    const [caller = '', service = ''] = key.split('\t');
    lines.push(`  ${id(`c_${caller}`)} -->|"${[...reqs].join('<br/>')}"| ${id(`s_${service}`)}`);
  }
  return `${lines.join('\n')}\n`;
}
