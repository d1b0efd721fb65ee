import { compilePolicy, type CompiledPolicy, policyMatches } from './authz.js';
import { type AuthIdentity, parsePrincipal, type RequestContext } from './context.js';
import { compileGatewayListeners, type GatewayListeners, sniAccepted } from './gateways.js';
import { INSTALLED_MESH } from './mesh.js';
import {
  type Decision,
  type EngineOptions,
  isRecord,
  type K8sObject,
  type Manifests,
  type MeshRequest,
  type PathNormalization,
  policyName,
  type RequestToken,
} from './model.js';
import { type CompiledNetworkPolicies, compileNetworkPolicies } from './network.js';
import { normalizePath } from './normalize.js';
import { subset } from './selection.js';
import { type CompiledSidecars, compileSidecars, type EgressVerdict } from './sidecars.js';

export { subset };

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

interface JwtRule {
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Location keys this rule reads tokens from. */
  readonly locations: ReadonlySet<string>;
  readonly spaceDelimitedClaims: ReadonlySet<string>;
  readonly policy: string;
}

interface WorkloadPlan {
  readonly mtls: (port: number | undefined) => { mode: MtlsMode; policy: string | undefined };
  readonly jwtRules: readonly JwtRule[];
  /** Token location key → issuer → the rules (in order) reading that issuer there. */
  readonly jwtByLocation: ReadonlyMap<string, ReadonlyMap<string, readonly JwtRule[]>>;
  readonly jwtPolicies: readonly string[];
  readonly custom: readonly CompiledPolicy[];
  readonly deny: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly dryRun: readonly CompiledPolicy[];
}

/** Manifests precompiled for fast decisions; build once with `compile()`. */
export interface CompiledManifests {
  readonly manifests: Manifests;
  readonly rootNamespace: string;
  readonly pathNormalization: PathNormalization;
  /** The NetworkPolicies, checked for requests that name their source pod. */
  readonly network: CompiledNetworkPolicies;
  /** The trust domain and its aliases: a peer principal outside them fails the handshake. */
  readonly trustDomains: ReadonlySet<string>;
  /** The gateways' TLS servers (SNI). */
  readonly gateways: GatewayListeners;
  /** The Sidecars' egress, checked for requests from a sidecar pod that name it. */
  readonly sidecars: CompiledSidecars;
  plan(namespace: string, labels: Record<string, string>): WorkloadPlan;
}

const byName = (a: K8sObject, b: K8sObject) => policyName(a).localeCompare(policyName(b));

/** Oldest first (Istio's tie-break); without timestamps, by namespace/name. */
function byAge(a: K8sObject, b: K8sObject): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) {
    if (ta === '') return 1;
    if (tb === '') return -1;
    return ta < tb ? -1 : 1;
  }
  return byName(a, b);
}

export function matchLabels(selector: unknown): Record<string, string> | undefined {
  if (!isRecord(selector)) return undefined;
  const ml = selector.matchLabels;
  return isRecord(ml) ? (ml as Record<string, string>) : undefined;
}

export function tokenLocationKey(loc: RequestToken['location']): string {
  if (loc?.param !== undefined) return `p:${loc.param}`;
  if (loc?.cookie !== undefined) return `c:${loc.cookie}`;
  if (loc?.header !== undefined) return `h:${loc.header.toLowerCase()}:${loc.prefix ?? ''}`;
  return 'h:authorization:Bearer ';
}

function ruleLocations(rule: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  const headers = Array.isArray(rule.fromHeaders) ? rule.fromHeaders.filter(isRecord) : [];
  const params = Array.isArray(rule.fromParams) ? rule.fromParams : [];
  const cookies = Array.isArray(rule.fromCookies) ? rule.fromCookies : [];
  for (const h of headers) {
    out.add(`h:${String(h.name).toLowerCase()}:${typeof h.prefix === 'string' ? h.prefix : ''}`);
  }
  for (const p of params) out.add(`p:${String(p)}`);
  for (const c of cookies) out.add(`c:${String(c)}`);
  if (out.size === 0) {
    out.add('h:authorization:Bearer ');
    out.add('p:access_token');
  }
  return out;
}

/** Does `policy` (AuthorizationPolicy / RequestAuthentication / PeerAuthentication) select the workload? */
export function selects(
  obj: K8sObject,
  namespace: string,
  labels: Record<string, string>,
  rootNamespace: string,
  services: readonly K8sObject[],
): boolean {
  const ns = obj.metadata.namespace ?? 'default';
  const spec = obj.spec ?? {};
  const selector = matchLabels(spec.selector);
  const refs = Array.isArray(spec.targetRefs)
    ? spec.targetRefs.filter(isRecord)
    : isRecord(spec.targetRef)
      ? [spec.targetRef]
      : [];
  if (ns !== rootNamespace && ns !== namespace) return false;
  if (selector) return subset(selector, labels);
  if (refs.length > 0) {
    if (ns !== namespace) return false;
    return refs.some((ref) => {
      const name = String(ref.name);
      if (ref.kind === 'Gateway') return labels['gateway.networking.k8s.io/gateway-name'] === name;
      if (ref.kind === 'Service') {
        const svc = services.find(
          (s) => s.metadata.name === name && (s.metadata.namespace ?? 'default') === ns,
        );
        const sel = svc?.spec?.selector;
        return (
          isRecord(sel) &&
          Object.keys(sel).length > 0 &&
          subset(sel as Record<string, string>, labels)
        );
      }
      return false;
    });
  }
  return true;
}

function modeOf(value: unknown): MtlsMode | undefined {
  return value === 'STRICT' || value === 'PERMISSIVE' || value === 'DISABLE' ? value : undefined;
}

function buildPlan(
  m: Manifests,
  namespace: string,
  labels: Record<string, string>,
  root: string,
  policies: readonly CompiledPolicy[],
): WorkloadPlan {
  const services = m.objects.filter((o) => o.kind === 'Service');
  const ofKind = (kind: string) => m.objects.filter((o) => o.kind === kind);
  // PeerAuthentication: workload > namespace > mesh > PERMISSIVE; same level: oldest.
  const pas = ofKind('PeerAuthentication').slice().sort(byAge);
  const nsOf = (o: K8sObject) => o.metadata.namespace ?? 'default';
  const hasSelector = (o: K8sObject) => matchLabels(o.spec?.selector) !== undefined;
  const workloadPa = pas.find(
    (o) =>
      nsOf(o) === namespace &&
      nsOf(o) !== root &&
      hasSelector(o) &&
      selects(o, namespace, labels, root, services),
  );
  const namespacePa = pas.find((o) => nsOf(o) === namespace && !hasSelector(o));
  const meshPa = pas.find((o) => nsOf(o) === root && !hasSelector(o));
  const mtlsOf = (port: number | undefined): { mode: MtlsMode; policy: string | undefined } => {
    if (workloadPa) {
      const plm = workloadPa.spec?.portLevelMtls;
      if (port !== undefined && isRecord(plm)) {
        const entry = plm[String(port)];
        const mode = isRecord(entry) && isRecord(entry) ? modeOf(entry.mode) : undefined;
        if (mode) return { mode, policy: policyName(workloadPa) };
      }
      const mode = isRecord(workloadPa.spec?.mtls) ? modeOf(workloadPa.spec.mtls.mode) : undefined;
      if (mode) return { mode, policy: policyName(workloadPa) };
    }
    for (const pa of [namespacePa, meshPa]) {
      if (!pa) continue;
      const mode = isRecord(pa.spec?.mtls) ? modeOf(pa.spec.mtls.mode) : undefined;
      if (mode) return { mode, policy: policyName(pa) };
    }
    return { mode: 'PERMISSIVE', policy: undefined };
  };
  // Per port, computed once (the result is shared and never mutated).
  const byPort = new Map<number | undefined, { mode: MtlsMode; policy: string | undefined }>();
  const mtls = (port: number | undefined) => {
    let hit = byPort.get(port);
    if (hit === undefined) {
      hit = mtlsOf(port);
      if (byPort.size < 1000) byPort.set(port, hit);
    }
    return hit;
  };

  const ras = ofKind('RequestAuthentication')
    .filter((o) => selects(o, namespace, labels, root, services))
    .sort(byName);
  const jwtRules: JwtRule[] = ras.flatMap((ra) => {
    const rules = Array.isArray(ra.spec?.jwtRules) ? ra.spec.jwtRules.filter(isRecord) : [];
    return rules.map((r) => ({
      issuer: typeof r.issuer === 'string' ? r.issuer : '',
      audiences: Array.isArray(r.audiences) ? r.audiences.map(String) : [],
      locations: ruleLocations(r),
      spaceDelimitedClaims: new Set(
        Array.isArray(r.spaceDelimitedClaims) ? r.spaceDelimitedClaims.map(String) : [],
      ),
      policy: policyName(ra),
    }));
  });
  const applicable = policies.filter((p) => selects(p.object, namespace, labels, root, services));
  const enforced = applicable.filter((p) => !p.dryRun);
  return {
    mtls,
    jwtRules,
    jwtByLocation: jwtRules.reduce((map, r) => {
      for (const loc of r.locations) {
        const byIss = map.get(loc) ?? new Map<string, JwtRule[]>();
        byIss.set(r.issuer, [...(byIss.get(r.issuer) ?? []), r]);
        map.set(loc, byIss);
      }
      return map;
    }, new Map<string, Map<string, JwtRule[]>>()),
    jwtPolicies: ras.map(policyName),
    custom: enforced.filter((p) => p.action === 'CUSTOM'),
    deny: enforced.filter((p) => p.action === 'DENY'),
    allow: enforced.filter((p) => p.action === 'ALLOW'),
    dryRun: applicable.filter((p) => p.dryRun && p.action !== 'AUDIT'),
  };
}

/**
 * The label keys a plan can depend on: `buildPlan` reads a workload's labels only through
 * the selectors of AuthorizationPolicies, RequestAuthentications and PeerAuthentications,
 * the selectors of Services (for `targetRefs` of kind Service) and the gateway-name label
 * (for `targetRefs` of kind Gateway). Two label sets that agree on these keys get the same
 * plan.
 */
function planLabelKeys(m: Manifests): string[] {
  const keys = new Set<string>();
  let serviceRefs = false;
  for (const o of m.objects) {
    if (
      o.kind !== 'AuthorizationPolicy' &&
      o.kind !== 'RequestAuthentication' &&
      o.kind !== 'PeerAuthentication'
    ) {
      continue;
    }
    const spec = o.spec ?? {};
    const sel = matchLabels(spec.selector);
    if (sel) for (const k in sel) keys.add(k);
    const refs = Array.isArray(spec.targetRefs)
      ? spec.targetRefs.filter(isRecord)
      : isRecord(spec.targetRef)
        ? [spec.targetRef]
        : [];
    for (const ref of refs) {
      if (ref.kind === 'Gateway') keys.add('gateway.networking.k8s.io/gateway-name');
      if (ref.kind === 'Service') serviceRefs = true;
    }
  }
  if (serviceRefs) {
    for (const svc of m.objects) {
      const sel = svc.kind === 'Service' ? svc.spec?.selector : undefined;
      if (isRecord(sel)) for (const k in sel) keys.add(k);
    }
  }
  return [...keys].sort();
}

/** Plans kept per compiled manifests; past this, new label sets are planned uncached. */
const MAX_PLANS = 10_000;

/** Precompiles manifests: policies parsed once, per-workload plans cached. */
export function compile(manifests: Manifests, options: EngineOptions = {}): CompiledManifests {
  const root = options.rootNamespace ?? 'istio-system';
  const policies = manifests.objects
    .filter((o) => o.kind === 'AuthorizationPolicy')
    .slice()
    .sort(byName)
    .map(compilePolicy);
  // Content-keyed: namespace, then the value of each plan label key in turn (raw values as
  // Map keys, `undefined` for an absent label), so a fresh labels object (a request parsed
  // from JSON) costs a few Map lookups and no allocation.
  const keys = planLabelKeys(manifests);
  const depth = keys.length;
  const cache = new Map<unknown, unknown>();
  let size = 0;
  return {
    manifests,
    rootNamespace: root,
    pathNormalization: options.pathNormalization ?? INSTALLED_MESH.pathNormalization,
    network: compileNetworkPolicies(manifests),
    trustDomains: new Set([
      options.trustDomain ?? INSTALLED_MESH.trustDomain,
      ...(options.trustDomainAliases ?? INSTALLED_MESH.trustDomainAliases),
    ]),
    gateways: compileGatewayListeners(manifests),
    sidecars: compileSidecars(
      manifests,
      root,
      options.outboundTrafficPolicy ?? INSTALLED_MESH.outboundTrafficPolicy,
    ),
    plan(namespace, labels) {
      let hit: unknown = cache.get(namespace);
      for (let i = 0; i < depth && hit !== undefined; i++) {
        hit = (hit as Map<unknown, unknown>).get(labels[keys[i]]);
      }
      if (hit !== undefined) return hit as WorkloadPlan;
      const plan = buildPlan(manifests, namespace, labels, root, policies);
      if (size >= MAX_PLANS) return plan;
      size++;
      let node = cache;
      let key: unknown = namespace;
      for (let i = 0; i < depth; i++) {
        let child = node.get(key) as Map<unknown, unknown> | undefined;
        if (!child) node.set(key, (child = new Map<unknown, unknown>()));
        node = child;
        key = labels[keys[i]];
      }
      node.set(key, plan);
      return plan;
    },
  };
}

function headerMap(headers: MeshRequest['headers']): Map<string, string> | undefined {
  if (!headers) return undefined;
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const v = typeof value === 'string' ? value : value.join(',');
    const key = name.toLowerCase();
    const prev = map.get(key);
    map.set(key, prev === undefined ? v : `${prev},${v}`);
  }
  return map;
}

/** A peer principal's parts, with its `ns/sa` service account. */
type Peer = NonNullable<ReturnType<typeof parsePrincipal>> & { readonly qualifiedSa: string };
const principals = new Map<string, Peer | undefined>();
function cachedPrincipal(principal: string): Peer | undefined {
  if (principals.has(principal)) return principals.get(principal);
  const parsed = parsePrincipal(principal);
  const peer = parsed && { ...parsed, qualifiedSa: `${parsed.namespace}/${parsed.serviceAccount}` };
  if (principals.size < 10_000) principals.set(principal, peer);
  return peer;
}

const EMPTY_LABELS: Record<string, string> = {};

function result(
  req: MeshRequest,
  outcome: Decision['outcome'],
  status: number,
  reason: string,
  policies: readonly string[],
): Decision {
  return { id: req.id ?? null, outcome, status, reason, policies };
}

type JwtResult =
  | { kind: 'ok'; identity: AuthIdentity | undefined }
  | { kind: 'fail'; status: 401 | 403; reason: string };

const NO_IDENTITY: JwtResult = { kind: 'ok', identity: undefined };
const INVALID_TOKEN: JwtResult = {
  kind: 'fail',
  status: 401,
  reason: `invalid token (signature or expiry)`,
};

/** The first rule whose audiences admit the token (a rule without audiences admits all). */
function audienceRule(rules: readonly JwtRule[], auds: readonly string[]): JwtRule | undefined {
  for (const r of rules) {
    if (r.audiences.length === 0) return r;
    for (const a of r.audiences) if (auds.includes(a)) return r;
  }
  return undefined;
}

function authenticate(plan: WorkloadPlan, tokens: readonly RequestToken[] | undefined): JwtResult {
  if (!tokens || tokens.length === 0 || plan.jwtRules.length === 0) return NO_IDENTITY;
  let identity: AuthIdentity | undefined;
  for (const token of tokens) {
    const byIssuer = plan.jwtByLocation.get(tokenLocationKey(token.location));
    if (byIssuer === undefined) continue; // not where any rule looks: missing, not invalid
    const iss = token.claims.iss;
    if (token.valid === false) return INVALID_TOKEN;
    const rules = typeof iss === 'string' ? byIssuer.get(iss) : undefined;
    if (rules === undefined) {
      return {
        kind: 'fail',
        status: 401,
        reason: `token issuer '${String(iss)}' is not configured for this workload`,
      };
    }
    const aud = token.claims.aud;
    const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.map(String) : [];
    const rule = audienceRule(rules, auds);
    if (!rule) {
      return {
        kind: 'fail',
        status: 403,
        reason: `token audiences [${auds.join(', ')}] match none of [${rules.flatMap((r) => r.audiences).join(', ')}]`,
      };
    }
    if (identity !== undefined) continue;
    const subject = typeof token.claims.sub === 'string' ? token.claims.sub : '';
    identity = {
      issuer: iss as string,
      subject,
      principal: `${iss as string}/${subject}`,
      audiences: auds,
      presenter: typeof token.claims.azp === 'string' ? token.claims.azp : undefined,
      claims: token.claims,
      spaceDelimitedClaims: rule.spaceDelimitedClaims,
    };
  }
  return identity === undefined ? NO_IDENTITY : { kind: 'ok', identity };
}

/** The attributes policies match on; `auth` is set by the JWT step. */
function requestContext(
  req: MeshRequest,
  http: boolean,
  mtlsOn: boolean,
  path: string | undefined,
): RequestContext {
  const src = req.source;
  const dest = req.destination;
  const principal = mtlsOn ? src?.principal : undefined;
  const peer = principal === undefined ? undefined : cachedPrincipal(principal);
  return {
    http,
    method: http ? req.method : undefined,
    path,
    host: http ? req.host : undefined,
    port: dest.port,
    principal,
    peerNamespace: peer?.namespace,
    peerServiceAccount: peer?.qualifiedSa,
    trustDomain: peer?.trustDomain,
    sourceIp: src?.ip,
    remoteIp: req.remoteIp ?? src?.ip,
    destinationIp: dest.ip,
    sni: req.sni,
    headers: http ? headerMap(req.headers) : undefined,
    auth: undefined,
  };
}

/**
 * What `decide` can observe of the request's connection — mTLS, peer identity, source and
 * remote IP — through the destination's plan: the mTLS state and the result of every peer
 * field check (`CompiledPolicy.peerChecks`) of the policies applying there.
 *
 * `decide` reads `source` and `remoteIp` only through these, and `tokens` only through
 * the JWT step and the auth field checks (`authSignature`); every policy match is a
 * boolean combination of field checks. So two requests to the same destination with the
 * same operation (protocol, method, path, host, headers, SNI, id) and the same peer and
 * auth signatures get identical decisions. The access matrix decides once per signature
 * pair instead of once per caller.
 */
export function peerSignature(compiled: CompiledManifests, req: MeshRequest): string {
  const egress = egressVerdict(compiled, req);
  if (egress.kind === 'blocked') return `blocked ${egress.reason}`;
  if (egress.kind === 'passthrough')
    return `passthrough ${peerSignature(compiled, plaintext(req))}`;
  const dest = req.destination;
  const network = networkVerdict(compiled, req);
  if (network && !network.admitted) return `unreachable ${network.reason}`;
  const plan = compiled.plan(dest.namespace, dest.labels ?? EMPTY_LABELS);
  const { mode } = plan.mtls(dest.port);
  const mtlsOn = req.source?.mtls === true && mode !== 'DISABLE';
  if (mtlsOn && foreignPeer(compiled, req.source.principal)) return 'reset foreign trust domain';
  const ctx = requestContext(req, req.protocol !== 'tcp', mtlsOn, undefined);
  let sig = mtlsOn ? 'm|' : 'p|';
  sig = checkBits(sig, plan.dryRun, 'peerChecks', ctx);
  sig = checkBits(sig, plan.custom, 'peerChecks', ctx);
  sig = checkBits(sig, plan.deny, 'peerChecks', ctx);
  return checkBits(sig, plan.allow, 'peerChecks', ctx);
}

/**
 * What `decide` can observe of the request's tokens through the destination's plan: the
 * outcome of the JWT step and the result of every auth field check
 * (`CompiledPolicy.authChecks`), evaluated as `decide` evaluates them — without an
 * identity for dry-run and CUSTOM policies, with it for DENY and ALLOW. Reads no other
 * field of `req` than its destination, protocol and tokens (and, for a CORS preflight, whose
 * tokens are never verified, its method and headers). See `peerSignature`.
 */
export function authSignature(compiled: CompiledManifests, req: MeshRequest): string {
  const dest = req.destination;
  const plan = compiled.plan(dest.namespace, dest.labels ?? EMPTY_LABELS);
  const http = req.protocol !== 'tcp';
  const ctx = requestContext(AUTH_ONLY, http, false, undefined);
  let sig = checkBits('', plan.dryRun, 'authChecks', ctx);
  sig = checkBits(sig, plan.custom, 'authChecks', ctx);
  if (!http) return `${sig}tcp`;
  const jwt = corsPreflight(req) ? NO_IDENTITY : authenticate(plan, req.tokens);
  if (jwt.kind === 'fail') return `${sig}${jwt.status} ${jwt.reason}`;
  ctx.auth = jwt.identity;
  sig += jwt.identity === undefined ? 'n|' : 'a|';
  sig = checkBits(sig, plan.deny, 'authChecks', ctx);
  return checkBits(sig, plan.allow, 'authChecks', ctx);
}

/**
 * A CORS preflight as Envoy's jwt_authn sees one (OPTIONS with non-empty Origin and
 * Access-Control-Request-Method): istiod sets `bypass_cors_preflight`, so its tokens are not
 * verified — the policies see no identity, whatever the tokens are.
 */
function corsPreflight(req: MeshRequest): boolean {
  if (req.method !== 'OPTIONS') return false;
  const headers = headerMap(req.headers);
  return Boolean(headers?.get('origin')) && Boolean(headers?.get('access-control-request-method'));
}

/** A request with nothing but a destination: auth checks read only `auth`. */
const AUTH_ONLY: MeshRequest = { destination: { namespace: '' } };

/** `sig` followed by one digit per field check of `policies` of the kind, then `|`. */
function checkBits(
  sig: string,
  policies: readonly CompiledPolicy[],
  kind: 'peerChecks' | 'authChecks',
  ctx: RequestContext,
): string {
  let out = sig;
  for (const p of policies) for (const c of p[kind]) out += c(ctx) ? '1' : '0';
  return `${out}|`;
}

/** The methods Envoy's HTTP/1 codec accepts (`isMethodValid`, balsa_parser.cc): case-sensitive. */
const HTTP1_METHODS: ReadonlySet<string> = new Set(
  'ACL BIND CHECKOUT CONNECT COPY DELETE GET HEAD LINK LOCK M-SEARCH MERGE MKACTIVITY MKCALENDAR MKCOL MOVE NOTIFY OPTIONS PATCH POST PROPFIND PROPPATCH PURGE PUT REBIND REPORT SEARCH SOURCE SUBSCRIBE TRACE UNBIND UNLINK UNLOCK UNSUBSCRIBE'.split(
    ' ',
  ),
);

/**
 * What Envoy's HTTP/1 codec answers 400 before any filter: a method it does not know, a
 * request target that is not an origin-form path, a byte outside visible ASCII in it.
 */
function codecRefusal(req: MeshRequest): string | undefined {
  if (req.method !== undefined && !HTTP1_METHODS.has(req.method)) {
    return `method '${req.method}' refused by Envoy's HTTP/1 codec (methods are case-sensitive)`;
  }
  const path = req.path;
  if (path === undefined) return undefined;
  if (req.method === 'CONNECT' && path.startsWith('/')) {
    return `CONNECT with the path '${path}': its target must be host:port (Envoy answers 400)`;
  }
  if (!path.startsWith('/') && !(req.method === 'OPTIONS' && path === '*')) {
    return `request target '${path}' is not a path starting with '/' (Envoy answers 400)`;
  }
  if (/[^\x21-\x7e]/.test(path)) {
    return `request target '${path}' has a byte outside visible ASCII (Envoy answers 400)`;
  }
  return undefined;
}

/**
 * The sidecar's own listeners, outside authorization: the proxy answers them itself
 * (istio-iptables does not redirect them to the inbound listener).
 */
const PROXY_PORTS: ReadonlyMap<number, string> = new Map([
  [15020, 'merged metrics and health'],
  [15021, 'health checks'],
  [15090, 'Envoy metrics'],
]);

/**
 * A peer principal whose trust domain is not the mesh's (nor an alias): istiod's inbound TLS
 * context only accepts `spiffe://<trust domain>/` SANs (`TrustDomainsForValidation`).
 */
function foreignPeer(compiled: CompiledManifests, principal: string | undefined): boolean {
  if (principal === undefined) return false;
  const slash = principal.indexOf('/');
  return !compiled.trustDomains.has(slash < 0 ? principal : principal.slice(0, slash));
}

/** What the caller's own sidecar does with a request that names its source pod (Sidecar egress). */
function egressVerdict(compiled: CompiledManifests, req: MeshRequest): EgressVerdict {
  const from = req.source?.pod;
  if (from === undefined || compiled.sidecars.empty) return ROUTED;
  return compiled.sidecars.egress(req, compiled.gateways.isGateway(from.labels ?? EMPTY_LABELS));
}

const ROUTED: EgressVerdict = { kind: 'routed' };

/** The request as it leaves a proxy that passes it through: the same pod, no mTLS, no peer. */
function plaintext(req: MeshRequest): MeshRequest {
  return { ...req, source: { ...req.source, mtls: false, principal: undefined } };
}

/** The NetworkPolicy verdict of a request that names its source pod; undefined otherwise. */
function networkVerdict(compiled: CompiledManifests, req: MeshRequest) {
  const from = req.source?.pod;
  if (from === undefined || compiled.network.empty) return undefined;
  const dest = req.destination;
  return compiled.network.admits({
    source: {
      pod: { namespace: from.namespace, labels: from.labels ?? EMPTY_LABELS },
      ip: req.source?.ip,
    },
    destination: {
      pod: { namespace: dest.namespace, labels: dest.labels ?? EMPTY_LABELS },
      ip: dest.ip,
    },
    port: dest.port,
    portName: dest.portName,
    protocol: 'TCP',
  });
}

/**
 * Decides one request: the NetworkPolicies first when the request names its source pod,
 * then Istio's inbound pipeline: PeerAuthentication, CUSTOM, JWT, DENY, ALLOW. A matching
 * CUSTOM policy cannot be decided offline: the decision is deny 403 with a reason starting
 * `undecidable:`. Dry-run policies are evaluated and reported in the reason, never enforced.
 */
export function decide(compiled: CompiledManifests, req: MeshRequest): Decision {
  const egress = egressVerdict(compiled, req);
  if (egress.kind === 'blocked')
    return result(req, 'blocked', egress.status, egress.reason, [egress.sidecar]);
  if (egress.kind === 'passthrough') {
    const d = decide(compiled, plaintext(req));
    return {
      ...d,
      reason: `${egress.reason}: ${d.reason}`,
      policies: [egress.sidecar, ...d.policies],
    };
  }
  const dest = req.destination;
  const network = networkVerdict(compiled, req);
  if (network && !network.admitted)
    return result(req, 'unreachable', 0, network.reason, network.policies);
  if (dest.port !== undefined && PROXY_PORTS.has(dest.port)) {
    return result(
      req,
      'allow',
      200,
      `port ${dest.port} is the sidecar's own (${PROXY_PORTS.get(dest.port) ?? ''}): outside authorization`,
      [],
    );
  }
  const labels = dest.labels ?? EMPTY_LABELS;
  const gateway = compiled.gateways.isGateway(labels);
  const tls =
    gateway && dest.port !== undefined
      ? compiled.gateways.tlsServers(labels, dest.port)
      : undefined;
  if (tls && !sniAccepted(tls, req.sni)) {
    const names = tls.flatMap((s) => s.names).join(', ');
    return result(
      req,
      'reset',
      0,
      `no TLS filter chain of the gateway's port ${dest.port ?? '-'} accepts ${req.sni === undefined ? 'a ClientHello without SNI' : `SNI '${req.sni}'`} (server names: ${names})`,
      [...new Set(tls.map((s) => s.gateway))],
    );
  }
  const plan = compiled.plan(dest.namespace, labels);
  const { mode, policy: paPolicy } = plan.mtls(dest.port);
  const src = req.source;
  const mtlsOn = src?.mtls === true && mode !== 'DISABLE';
  if (mode === 'STRICT' && !mtlsOn && !gateway) {
    return result(
      req,
      'reset',
      0,
      `plaintext refused: STRICT mTLS on port ${dest.port ?? '-'} (${paPolicy ?? 'mesh'})`,
      paPolicy ? [paPolicy] : [],
    );
  }
  if (mtlsOn && foreignPeer(compiled, src.principal)) {
    return result(
      req,
      'reset',
      0,
      `TLS handshake refused: peer '${src.principal ?? ''}' is outside the trust domain ${[...compiled.trustDomains].join(', ')} (istiod's SAN check)`,
      [],
    );
  }
  const http = req.protocol !== 'tcp';
  const refused = http ? codecRefusal(req) : undefined;
  if (refused !== undefined) return result(req, 'deny', 400, refused, []);
  let path: string | undefined;
  if (http && req.path !== undefined) {
    const p = normalizePath(req.path, compiled.pathNormalization);
    if (p === null)
      return result(req, 'deny', 400, `path '${req.path}' rejected by path normalization`, []);
    path = p;
  }
  const ctx = requestContext(req, http, mtlsOn, path);
  let notes = '';
  if (plan.dryRun.length > 0) {
    for (const p of plan.dryRun) {
      const hit = policyMatches(p, ctx);
      if (p.action === 'DENY' && hit) notes += `; dry-run ${p.name} would deny`;
      if (p.action === 'ALLOW') notes += `; dry-run ${p.name} would ${hit ? 'allow' : 'not allow'}`;
      if (p.action === 'CUSTOM' && hit)
        notes += `; dry-run ${p.name} would call '${p.provider ?? '?'}'`;
    }
  }
  for (const p of plan.custom) {
    if (policyMatches(p, ctx)) {
      return result(
        req,
        'deny',
        403,
        `undecidable: CUSTOM provider '${p.provider ?? '?'}' decides at runtime (${p.name})${notes}`,
        [p.name],
      );
    }
  }
  if (http) {
    const jwt = corsPreflight(req) ? NO_IDENTITY : authenticate(plan, req.tokens);
    if (jwt.kind === 'fail') {
      return result(
        req,
        jwt.status === 401 ? 'unauthenticated' : 'deny',
        jwt.status,
        `${jwt.reason}${notes}`,
        plan.jwtPolicies,
      );
    }
    ctx.auth = jwt.identity;
  }
  for (const p of plan.deny) {
    if (policyMatches(p, ctx))
      return result(req, 'deny', 403, `denied by DENY policy ${p.name}${notes}`, [p.name]);
  }
  if (plan.allow.length === 0)
    return result(req, 'allow', 200, `no ALLOW policy applies${notes}`, []);
  for (const p of plan.allow) {
    if (policyMatches(p, ctx))
      return result(req, 'allow', 200, `allowed by ${p.name}${notes}`, [p.name]);
  }
  return result(
    req,
    'deny',
    403,
    `no ALLOW policy matched${notes}`,
    plan.allow.map((p) => p.name),
  );
}
