/**
 * A case as `decide` sees it — one request per proxy hop: the gateway's, then (when the gateway
 * routes it on) the sidecar's — and the comparison of what decide said with what Envoy did.
 */
import { type CompiledManifests, decide } from '../engine/engine.js';
import type { MeshSettings } from '../engine/mesh.js';
import {
  type Decision,
  isRecord,
  type Manifests,
  type MeshRequest,
  type RequestToken,
} from '../engine/model.js';
import { normalizePath } from '../engine/normalize.js';
import { portProtocol } from '../engine/ports.js';
import type { Case, ClientCert, Observation, Proxy, TokenSpec } from './model.js';

export interface World {
  readonly manifests: Manifests;
  readonly compiled: CompiledManifests;
  readonly mesh: MeshSettings;
  readonly proxies: ReadonlyMap<string, Proxy>;
  readonly clients: Readonly<Partial<Record<string, ClientCert>>>;
}

/** decide's view of a case: the hops in order, and where the gateway would route it. */
export interface Expectation {
  readonly hops: readonly { readonly proxy: string; readonly request: MeshRequest }[];
  readonly decisions: readonly Decision[];
  /** The client connects to the gateway (hop 0), which may forward to a sidecar (hop 1). */
  readonly viaGateway: boolean;
  /** The verdict for the whole case: the first hop that does not allow, else the last. */
  readonly verdict: Decision;
}

const principalOf = (uri: string) => uri.replace(/^spiffe:\/\//, '');

function tokensOf(specs: readonly TokenSpec[]): RequestToken[] {
  return specs.map((t) => ({
    claims: Object.fromEntries(Object.entries(t.claims).filter(([, v]) => v !== undefined)),
    ...(t.kind === 'valid' || t.kind === 'huge' ? {} : { valid: false }),
    ...(t.param === undefined ? {} : { location: { param: t.param } }),
  }));
}

function headersOf(c: Case): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of c.headers) out[k.toLowerCase()] = v;
  return out;
}

/** The request line decide gets for the proxy `to` receiving the case on `port`. */
function hopRequest(
  c: Case,
  to: Proxy,
  port: number,
  source: MeshRequest['source'],
  remoteIp: string,
  tokens: readonly TokenSpec[],
  sni: string | undefined,
  protocol: 'http' | 'tcp',
): MeshRequest {
  const portName = to.ports.find((p) => p.port === port)?.name;
  return {
    id: c.id,
    destination: {
      namespace: to.namespace,
      labels: to.labels,
      port,
      ip: to.podIp,
      ...(portName === undefined ? {} : { portName }),
    },
    source,
    remoteIp,
    protocol,
    method: c.method,
    path: c.path,
    host: c.host,
    headers: headersOf(c),
    tokens: tokensOf(tokens),
    ...(sni === undefined ? {} : { sni }),
  };
}

/** A client certificate signed by another CA, or none: the TLS handshake fails. */
function handshakeFails(w: World, c: Case): boolean {
  if (c.transport.kind === 'tls-no-certificate') return true;
  return c.transport.kind === 'mtls' && w.clients[c.transport.client]?.ca === 'evil';
}

export function expectation(w: World, c: Case): Expectation {
  const to = w.proxies.get(c.to);
  if (!to) throw new Error(`case ${String(c.id)}: no proxy '${c.to}' in the inventory`);
  const hops: { proxy: string; request: MeshRequest }[] = [];
  if (to.kind === 'sidecar') {
    const peer = c.transport.kind === 'mtls' ? w.clients[c.transport.client]?.uri : undefined;
    const source: MeshRequest['source'] =
      c.transport.kind === 'plaintext'
        ? { mtls: false, ip: c.from }
        : {
            mtls: true,
            ip: c.from,
            ...(peer === undefined ? {} : { principal: principalOf(peer.replace(/@evil$/, '')) }),
          };
    const xff = c.headers.find(([k]) => k.toLowerCase() === 'x-forwarded-for')?.[1];
    const remote = xff?.split(',').at(-1)?.trim() ?? c.from;
    hops.push({
      proxy: c.to,
      request: hopRequest(
        c,
        to,
        c.port,
        source,
        remote,
        c.tokens,
        undefined,
        protocolOf(w, to, c.port),
      ),
    });
  } else {
    const sni = c.transport.kind === 'tls' ? c.transport.sni : undefined;
    hops.push({
      proxy: c.to,
      request: hopRequest(
        c,
        to,
        c.port,
        { mtls: false, ip: c.from },
        c.from,
        c.tokens,
        sni,
        'http',
      ),
    });
    const next = c.port === 8080 && hasRedirect(w.manifests) ? undefined : routeOf(w, c);
    if (next) {
      hops.push({
        proxy: `${next.proxy.namespace}/${next.proxy.name}`,
        request: hopRequest(
          c,
          next.proxy,
          next.port,
          { mtls: true, principal: principalOf(to.principal), ip: to.podIp },
          c.from,
          forwarded(w.manifests, c.tokens),
          undefined,
          protocolOf(w, next.proxy, next.port),
        ),
      });
    }
  }
  const decisions: Decision[] = [];
  if (handshakeFails(w, c) && to.kind === 'sidecar' && !OWN_PORTS.has(c.port)) {
    decisions.push({
      id: c.id,
      outcome: 'reset',
      status: 0,
      reason: 'client certificate missing or not signed by the mesh CA (the handshake fails)',
      policies: [],
    });
  } else {
    for (const hop of hops) {
      const d = decide(w.compiled, hop.request);
      decisions.push(d);
      if (d.outcome !== 'allow') break;
    }
  }
  const verdict = decisions.at(-1);
  if (!verdict) throw new Error(`case ${String(c.id)}: no decision`);
  return { hops, decisions, viaGateway: to.kind === 'gateway', verdict };
}

const OWN_PORTS = new Set([15020, 15021, 15090]);

/** How the proxy's inbound listener treats the port (a TCP chain for undeclared ports). */
function protocolOf(w: World, p: Proxy, port: number): 'http' | 'tcp' {
  const names: Partial<Record<number, string>> = {};
  for (const x of p.ports) if (x.name !== undefined) names[x.port] = x.name;
  return portProtocol(w.manifests, p.namespace, p.labels, port, names);
}

/** The gateway's HTTP servers redirect to HTTPS (`tls.httpsRedirect`). */
function hasRedirect(m: Manifests): boolean {
  return m.objects.some(
    (o) =>
      o.kind === 'Gateway' &&
      (Array.isArray(o.spec?.servers) ? o.spec.servers.filter(isRecord) : []).some(
        (s) => isRecord(s.tls) && s.tls.httpsRedirect === true,
      ),
  );
}

/** Tokens the sidecar still gets: header tokens only when the gateway forwards them. */
function forwarded(m: Manifests, tokens: readonly TokenSpec[]): TokenSpec[] {
  const forwards = m.objects
    .filter((o) => o.kind === 'RequestAuthentication' && o.metadata.namespace === 'istio-system')
    .flatMap((o) => (Array.isArray(o.spec?.jwtRules) ? o.spec.jwtRules.filter(isRecord) : []))
    .every((r) => r.forwardOriginalToken === true);
  return tokens.filter((t) => forwards || t.param !== undefined);
}

/** Where the gateway's VirtualServices send the case: the proxy and pod port, or none. */
export function routeOf(w: World, c: Case): { proxy: Proxy; port: number } | undefined {
  const host = c.host.replace(/:\d+$/, '').toLowerCase();
  const path = normalizePath(c.path, w.mesh.pathNormalization);
  if (path === null) return undefined;
  for (const vs of w.manifests.objects.filter((o) => o.kind === 'VirtualService')) {
    const hosts = Array.isArray(vs.spec?.hosts) ? vs.spec.hosts.map(String) : [];
    if (!hosts.some((h) => hostMatches(h.toLowerCase(), host))) continue;
    for (const http of Array.isArray(vs.spec?.http) ? vs.spec.http.filter(isRecord) : []) {
      const matches = Array.isArray(http.match) ? http.match.filter(isRecord) : [];
      if (matches.length > 0 && !matches.some((m) => uriMatches(m.uri, path))) continue;
      const dest = (Array.isArray(http.route) ? http.route.filter(isRecord) : [])[0]?.destination;
      if (!isRecord(dest)) return undefined;
      return serviceTarget(
        w,
        String(dest.host),
        isRecord(dest.port) ? dest.port.number : undefined,
      );
    }
  }
  return undefined;
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

function uriMatches(uri: unknown, path: string): boolean {
  if (!isRecord(uri)) return true;
  if (typeof uri.exact === 'string') return path === uri.exact;
  if (typeof uri.prefix === 'string') return path.startsWith(uri.prefix);
  if (typeof uri.regex === 'string') return new RegExp(`^(?:${uri.regex})$`).test(path);
  return false;
}

function serviceTarget(
  w: World,
  fqdn: string,
  port: unknown,
): { proxy: Proxy; port: number } | undefined {
  const [name, namespace] = fqdn.split('.');
  const svc = w.manifests.objects.find(
    (o) => o.kind === 'Service' && o.metadata.name === name && o.metadata.namespace === namespace,
  );
  const selector = isRecord(svc?.spec?.selector) ? svc.spec.selector : undefined;
  if (!svc || !selector) return undefined;
  const proxy = [...w.proxies.values()].find(
    (p) =>
      p.namespace === namespace &&
      Object.entries(selector).every(([k, v]) => p.labels[k] === String(v)),
  );
  if (!proxy) return undefined;
  const ports = Array.isArray(svc.spec?.ports) ? svc.spec.ports.filter(isRecord) : [];
  const sp = ports.find((p) => port === undefined || p.port === port) ?? ports.at(0);
  const target = sp?.targetPort ?? sp?.port;
  const number =
    typeof target === 'string' ? proxy.ports.find((p) => p.name === target)?.port : Number(target);
  return number === undefined ? undefined : { proxy, port: number };
}

/** What the real data plane did, in decide's terms. */
export type Seen = 'allow' | 'deny' | 'unauthenticated' | 'reset' | 'bad-request';

export function seenOf(o: Observation): Seen {
  if (o.status === 0) return 'reset';
  if (o.backend !== undefined) return 'allow';
  if (o.status === 401) return 'unauthenticated';
  if (o.status === 403) return 'deny';
  if (o.status === 400) return 'bad-request';
  return 'allow';
}

/** decide's outcome as the client sees it; a TCP connection that is denied is closed. */
function expectedOf(d: Decision, req: MeshRequest | undefined): Seen {
  if (d.outcome === 'unreachable' || d.outcome === 'reset') return 'reset';
  // The corpus sends to the destination's inbound and names no source pod, so decide never
  // reaches the caller's Sidecar egress here; a blocked request would never arrive.
  if (d.outcome === 'blocked') return 'reset';
  if (d.outcome === 'deny' && req?.protocol === 'tcp') return 'reset';
  if (d.outcome === 'deny' && d.status === 400) return 'bad-request';
  if (d.outcome === 'error') return 'bad-request';
  return d.outcome;
}

export interface Comparison {
  readonly agree: boolean;
  readonly decide: Seen;
  readonly envoy: Seen;
  /** The hop the comparison is about (the gateway answered without forwarding: its hop). */
  readonly hop: number;
  readonly decision: Decision;
}

/**
 * decide's verdict against Envoy's answer. Through the gateway, the response says which proxy
 * answered: one the gateway forwarded carries `x-envoy-upstream-service-time`, so decide's
 * gateway hop must have allowed and its sidecar hop is compared; one the gateway answered
 * itself (a refusal, a redirect, no route, a CORS preflight) is compared with the gateway hop.
 */
export function compare(e: Expectation, o: Observation): Comparison {
  const envoy = seenOf(o);
  const throughGateway = e.viaGateway;
  let hop = e.decisions.length - 1;
  if (throughGateway && !o.upstream) hop = 0;
  const decision = e.decisions[hop] ?? e.verdict;
  const expected = expectedOf(decision, e.hops[hop]?.request);
  const gatewayAgrees = !throughGateway || !o.upstream || e.decisions[0]?.outcome === 'allow';
  return { agree: gatewayAgrees && expected === envoy, decide: expected, envoy, hop, decision };
}
