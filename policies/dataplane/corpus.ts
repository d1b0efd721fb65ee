/**
 * The request corpus: every access-matrix cell of the manifests, then requests that vary one
 * thing at a time around them — path forms, methods, hosts, tokens, peer identities, ports,
 * `when` keys, SNI, source addresses — drawn from a seeded generator, so a seed names a corpus.
 */
import { samplePath } from '../../contract/match.js';
import { matrix } from '../engine/matrix.js';
import { isRecord, type K8sObject, type Manifests, type RequestToken } from '../engine/model.js';
import { type MatrixPrincipal, matrixPrincipals } from '../engine/principals.js';
import { realmsOf } from '../engine/realms.js';
import { hostOf } from '../engine/route-intents.js';
import { servicesSelecting } from '../engine/selection.js';
import { type Workload, workloadsOf } from '../engine/workloads.js';
import type { Case, Proxy, TokenSpec, Transport } from './model.js';
import { type Random, seeded } from './random.js';

/** The addresses the client's namespace has; proxies route everything else to it. */
export const CLIENT_ADDRESSES = [
  '10.244.1.250',
  '10.244.1.251',
  '192.168.1.10',
  '172.16.0.5',
  '203.0.113.7',
  '198.51.100.20',
] as const;

/** A port no Service declares (the backend listens there too). */
export const UNDECLARED_PORT = 7070;

/** The names `clientIdentities` gives the client certificates it asks for. */
export const FOREIGN_CLIENT = 'foreign-trust-domain';
export const EVIL_CLIENT = 'untrusted-ca';

export function clientName(p: Proxy): string {
  return `${p.namespace}.${p.serviceAccount}`;
}

export interface CorpusOptions {
  readonly seed: number;
  /** At least this many cases (all matrix cells are always in). */
  readonly size: number;
}

interface Target {
  readonly proxy: Proxy;
  readonly workload: Workload | undefined;
  /** Pod ports a Service declares (HTTP). */
  readonly ports: readonly number[];
  /** The Host the mesh addresses it by. */
  readonly host: string;
  /** The Host the gateway routes to it by, when a VirtualService does. */
  readonly gatewayHost: string | undefined;
  readonly paths: readonly string[];
  readonly methods: readonly string[];
}

/** Everything the corpus draws from, derived from the manifests and the inventory. */
interface Vocabulary {
  readonly targets: readonly Target[];
  readonly gateway: Proxy | undefined;
  readonly tlsHosts: readonly string[];
  readonly principals: readonly MatrixPrincipal[];
  readonly clients: readonly string[];
  readonly headers: readonly (readonly [string, readonly string[]])[];
  readonly issuers: readonly string[];
  /** In-mesh matrix cells decide allows: the requests the families vary, one thing each. */
  seeds: Seed[];
}

type Seed = Omit<Case, 'id'> & { readonly target: Target };

export function generateCorpus(
  manifests: Manifests,
  proxies: readonly Proxy[],
  options: CorpusOptions,
): Case[] {
  const rnd = seeded(options.seed);
  const vocab = vocabulary(manifests, proxies);
  const cases: Case[] = [];
  const add = (c: Omit<Case, 'id'>) => cases.push({ ...c, id: cases.length });
  for (const { c, allowed, target } of matrixCases(manifests, vocab)) {
    add(c);
    if (allowed && target && c.to === key(target.proxy)) vocab.seeds.push({ ...c, target });
  }
  const families = FAMILIES.filter((f) => f.applies(vocab));
  if (families.length === 0 || vocab.targets.length === 0) return cases;
  while (cases.length < options.size) {
    const family = rnd.pick(families);
    for (const c of family.make(rnd, vocab)) add(c);
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// vocabulary

function vocabulary(manifests: Manifests, proxies: readonly Proxy[]): Vocabulary {
  const workloads = workloadsOf(manifests);
  const policies = manifests.objects.filter((o) => o.kind === 'AuthorizationPolicy');
  const rules = rulesOf(policies);
  const operations = operationsOf(rules);
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  const allPaths = [
    ...new Set(operations.flatMap((o) => [...strings(o.paths), ...strings(o.notPaths)])),
  ];
  const headers = new Map<string, Set<string>>();
  for (const r of rules) {
    for (const w of Array.isArray(r.when) ? r.when.filter(isRecord) : []) {
      const m = /^request\.headers\[([^\]]+)\]$/.exec(String(w.key));
      if (!m?.[1]) continue;
      const values = headers.get(m[1]) ?? new Set<string>();
      for (const v of [...strings(w.values), ...strings(w.notValues)]) values.add(v);
      headers.set(m[1], values);
    }
  }
  const gateway = proxies.find((p) => p.kind === 'gateway');
  const targets = proxies
    .filter((p) => p.kind === 'sidecar')
    .map((proxy): Target => {
      const workload = workloadOf(workloads, proxy);
      const ports = declaredPorts(manifests, proxy);
      const own = policies.filter(
        (p) => p.metadata.namespace === proxy.namespace || p.metadata.namespace === 'istio-system',
      );
      const ownOps = operationsOf(rulesOf(own));
      const paths = [
        ...new Set(ownOps.flatMap((o) => [...strings(o.paths), ...strings(o.notPaths)])),
      ];
      const gatewayHost = workload ? hostOf(manifests, workload) : undefined;
      return {
        proxy,
        workload,
        ports,
        host: serviceHost(manifests, proxy),
        gatewayHost: gatewayHost?.endsWith('.svc.cluster.local') ? undefined : gatewayHost,
        paths: (paths.length > 0 ? paths : allPaths).map(samplePath),
        methods: [...new Set([...ownOps.flatMap((o) => strings(o.methods)), 'GET', 'POST'])],
      };
    });
  const principals = matrixPrincipals(manifests, realmsOf(manifests)).principals;
  return {
    targets,
    gateway,
    tlsHosts: gatewayTlsHosts(manifests),
    principals,
    clients: proxies.map(clientName),
    headers: [...headers].map(([k, v]) => [k, [...v]] as const),
    seeds: [],
    issuers: [
      ...new Set(
        manifests.objects
          .filter((o) => o.kind === 'RequestAuthentication')
          .flatMap((o) => (Array.isArray(o.spec?.jwtRules) ? o.spec.jwtRules.filter(isRecord) : []))
          .map((r) => String(r.issuer)),
      ),
    ],
  };
}

function rulesOf(policies: readonly K8sObject[]): Record<string, unknown>[] {
  return policies.flatMap((p) =>
    Array.isArray(p.spec?.rules) ? p.spec.rules.filter(isRecord) : [],
  );
}

/** The `to[].operation`s of the rules. */
function operationsOf(rules: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  return rules.flatMap((r) =>
    (Array.isArray(r.to) ? r.to.filter(isRecord) : []).flatMap((t) =>
      isRecord(t.operation) ? [t.operation] : [],
    ),
  );
}

function workloadOf(workloads: readonly Workload[], proxy: Proxy): Workload | undefined {
  return workloads.find(
    (w) =>
      w.namespace === proxy.namespace &&
      proxy.name.startsWith(`${w.name}-`) &&
      Object.entries(w.labels).every(([k, v]) => proxy.labels[k] === v),
  );
}

/** The pod ports a Service selecting the proxy's pod declares. */
function declaredPorts(manifests: Manifests, proxy: Proxy): number[] {
  const out = new Set<number>();
  for (const svc of servicesSelecting(manifests, proxy.namespace, proxy.labels)) {
    for (const sp of Array.isArray(svc.spec?.ports) ? svc.spec.ports.filter(isRecord) : []) {
      const target = sp.targetPort ?? sp.port;
      const byName =
        typeof target === 'string'
          ? proxy.ports.find((p) => p.name === target)?.port
          : Number(target);
      if (byName !== undefined && Number.isInteger(byName)) out.add(byName);
    }
  }
  return [...out].sort((a, b) => a - b);
}

function serviceHost(manifests: Manifests, proxy: Proxy): string {
  const svc = servicesSelecting(manifests, proxy.namespace, proxy.labels).at(0);
  return `${svc?.metadata.name ?? proxy.name}.${proxy.namespace}.svc.cluster.local`;
}

function gatewayTlsHosts(manifests: Manifests): string[] {
  return manifests.objects
    .filter((o) => o.kind === 'Gateway')
    .flatMap((g) => (Array.isArray(g.spec?.servers) ? g.spec.servers.filter(isRecord) : []))
    .filter((s) => isRecord(s.tls))
    .flatMap((s) => (Array.isArray(s.hosts) ? s.hosts.map(String) : []))
    .map((h) => h.replace(/^[^/]*\//, ''))
    .filter((h) => h !== '*');
}

// ---------------------------------------------------------------------------------------------
// the matrix

function tokenOf(p: MatrixPrincipal | undefined): TokenSpec[] {
  const t: RequestToken | undefined = p?.token;
  if (t === undefined) return [];
  return [{ kind: t.valid === false ? 'bad-signature' : 'valid', claims: t.claims }];
}

function matrixCases(
  manifests: Manifests,
  vocab: Vocabulary,
): { c: Omit<Case, 'id'>; allowed: boolean; target?: Target }[] {
  const m = matrix(manifests, { clientIp: '192.168.1.10' });
  const principals = new Map(m.principals.map((p) => [p.name, p]));
  const callers = new Map(m.callers.map((c) => [c.name, c]));
  const out: { c: Omit<Case, 'id'>; allowed: boolean; target?: Target }[] = [];
  for (const cell of m.cells) {
    const [ns, name] = cell.service.split('/');
    const target = vocab.targets.find((t) => t.proxy.namespace === ns && t.workload?.name === name);
    const caller = callers.get(cell.caller);
    if (!target || !caller) continue;
    const tokens = tokenOf(principals.get(cell.principal));
    if (caller.kind === 'gateway') {
      if (!vocab.gateway || target.gatewayHost === undefined) continue;
      out.push({
        c: viaGateway(vocab, target.gatewayHost, cell.method, cell.path, tokens, '192.168.1.10'),
        allowed: false,
      });
      continue;
    }
    const port = target.ports.at(0);
    if (port === undefined) continue;
    const client = vocab.clients.find(
      (c) => caller.principal !== undefined && caller.principal.endsWith(c.replace('.', '/sa/')),
    );
    const c: Omit<Case, 'id'> = {
      family: 'matrix',
      to: key(target.proxy),
      port,
      transport:
        caller.kind === 'plaintext' || client === undefined
          ? { kind: 'plaintext' }
          : { kind: 'mtls', client },
      from: '10.244.1.250',
      method: cell.method,
      path: cell.path,
      host: target.host,
      headers: [],
      tokens,
    };
    out.push({ c, allowed: cell.outcome === 'allow', target });
  }
  return out;
}

export function key(p: Proxy): string {
  return `${p.namespace}/${p.name}`;
}

function viaGateway(
  vocab: Vocabulary,
  host: string,
  method: string,
  path: string,
  tokens: readonly TokenSpec[],
  from: string,
  /** The ClientHello's SNI: `auto` = the host when the gateway serves it, `none` = no SNI. */
  sni: string = 'auto',
): Omit<Case, 'id'> {
  const gw = vocab.gateway;
  if (!gw) throw new Error('no gateway');
  const tls = vocab.tlsHosts.length > 0;
  const name =
    sni === 'auto'
      ? vocab.tlsHosts.includes(host)
        ? host
        : vocab.tlsHosts.at(0)
      : sni === 'none'
        ? undefined
        : sni;
  return {
    family: 'matrix',
    to: key(gw),
    port: tls ? 8443 : 8080,
    transport: tls
      ? { kind: 'tls', ...(name === undefined ? {} : { sni: name }) }
      : { kind: 'plaintext' },
    from,
    method,
    path,
    host,
    headers: [],
    tokens,
  };
}

// ---------------------------------------------------------------------------------------------
// the families: each varies one thing of a request drawn at random

interface Family {
  readonly name: string;
  applies(v: Vocabulary): boolean;
  make(r: Random, v: Vocabulary): Omit<Case, 'id'>[];
}

/**
 * The request a family varies: mostly an in-mesh matrix cell decide allows (so one change can
 * flip it), else a random one: a target's declared port, a caller, a token, a path.
 */
function base(r: Random, v: Vocabulary, family: string): Seed {
  if (v.seeds.length > 0 && r.chance(0.6)) return { ...r.pick(v.seeds), family };
  const withPorts = v.targets.filter((t) => t.ports.length > 0);
  const target = r.pick(withPorts.length > 0 ? withPorts : v.targets);
  const client = r.pick(v.clients);
  const principal = r.pick(v.principals);
  return {
    target,
    family,
    to: key(target.proxy),
    port: target.ports.length > 0 ? r.pick(target.ports) : UNDECLARED_PORT,
    transport: { kind: 'mtls', client },
    from: '10.244.1.250',
    method: r.pick(target.methods),
    path: target.paths.length > 0 ? r.pick(target.paths) : '/',
    host: target.host,
    headers: [],
    tokens: tokenOf(principal),
  };
}

function strip<T extends { target: Target }>(c: T): Omit<T, 'target'> {
  const rest: Partial<T> = { ...c };
  delete rest.target;
  return rest as Omit<T, 'target'>;
}

/** Path forms: each one of Envoy's normalization steps, applied to a policy path. */
export const PATH_FORMS: readonly ((p: string, r: Random) => string)[] = [
  (p) => p.replace(/\/([^/]*)$/, '%2F$1'),
  (p) => p.replace(/\/([^/]*)$/, '%2f$1'),
  (p) => p.replace(/\/([^/]*)$/, '%5C$1'),
  (p) => p.replace(/\/([^/]*)$/, '\\$1'),
  (p) => `${p.replace(/\/[^/]*$/, '')}/x/..${p.slice(p.lastIndexOf('/'))}`,
  (p) => `${p.replace(/\/[^/]*$/, '')}/x/%2e%2e${p.slice(p.lastIndexOf('/'))}`,
  (p) => `${p.replace(/\/[^/]*$/, '')}/.${p.slice(p.lastIndexOf('/'))}`,
  (p) => `/${p}`,
  (p) => p.replace(/\//g, '//'),
  (p) => `${p};jsessionid=1`,
  (p) => p.replace(/\/([^/]+)/, '/$1;a=b'),
  (p) => (p.endsWith('/') ? p.slice(0, -1) : `${p}/`),
  (p) => p.toUpperCase(),
  (p) => `${p}?a=1&access=x`,
  (p) => `${p}#frag`,
  (p) => `${p}/%C3%A9`,
  (p) => `${p}/é`,
  (p) => `${p}/${'a'.repeat(4096)}`,
  (p) => `${p}%00`,
  (p) => p.replace(/[j-o]/, (c) => `%${c.charCodeAt(0).toString(16)}`),
  (p) => p.replace(/[j-o]/, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
  (p) => `${p}/%2e`,
  (p) => `${p}%25`,
  (p) => `${p}/a[1]`,
  (p) => `${p}/a=1`,
  (p) => `${p}/*`,
  (p, r) => `${p}/${String(r.int(1000))}`,
];

const METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'CONNECT',
  'TRACE',
  'PURGE',
  'get',
  'Get',
  'FOO',
];

const TOKEN_KINDS: readonly TokenSpec['kind'][] = [
  'valid',
  'expired',
  'not-yet-valid',
  'bad-signature',
  'alg-none',
  'huge',
];

function someToken(r: Random, v: Vocabulary): TokenSpec | undefined {
  const withToken = v.principals.filter((p) => p.token !== undefined);
  const p = withToken.length > 0 ? r.pick(withToken) : undefined;
  return p?.token ? { kind: 'valid', claims: p.token.claims } : undefined;
}

const FAMILIES: readonly Family[] = [
  {
    name: 'path',
    applies: () => true,
    make(r, v) {
      const c = base(r, v, 'path');
      return [strip({ ...c, path: r.pick(PATH_FORMS)(c.path, r) })];
    },
  },
  {
    name: 'method',
    applies: () => true,
    make(r, v) {
      return [strip({ ...base(r, v, 'method'), method: r.pick(METHODS) })];
    },
  },
  {
    name: 'host',
    applies: () => true,
    make(r, v) {
      const c = base(r, v, 'host');
      const forms = [
        c.host,
        `${c.host}:${String(c.port)}`,
        c.host.toUpperCase(),
        c.host.split('.')[0] ?? c.host,
        'evil.example',
        `${c.target.proxy.podIp}:${String(c.port)}`,
      ];
      return [strip({ ...c, host: r.pick(forms) })];
    },
  },
  {
    name: 'token',
    applies: (v) => v.issuers.length > 0,
    make(r, v) {
      const c = base(r, v, 'token');
      const own = c.tokens.at(0);
      const t = own?.kind === 'valid' ? own : someToken(r, v);
      if (!t) return [strip(c)];
      const variants: TokenSpec[][] = [
        [],
        [{ ...t, kind: r.pick(TOKEN_KINDS) }],
        [{ ...t, claims: { ...t.claims, iss: 'https://other-issuer.invalid' } }],
        [{ ...t, claims: { ...t.claims, aud: 'other-api' } }],
        [{ ...t, claims: { ...t.claims, sub: undefined } }],
        [{ ...t, param: 'access_token' }],
        [t, { ...t, param: 'access_token' }],
        [t, { ...t, kind: 'expired', param: 'access_token' }],
      ];
      return [strip({ ...c, tokens: r.pick(variants) })];
    },
  },
  {
    name: 'peer',
    applies: () => true,
    make(r, v) {
      const c = base(r, v, 'peer');
      const transports: Transport[] = [
        { kind: 'plaintext' },
        { kind: 'tls-no-certificate' },
        { kind: 'mtls', client: FOREIGN_CLIENT },
        { kind: 'mtls', client: EVIL_CLIENT },
        { kind: 'mtls', client: r.pick(v.clients) },
      ];
      return [strip({ ...c, transport: r.pick(transports) })];
    },
  },
  {
    name: 'port',
    applies: () => true,
    make(r, v) {
      const c = base(r, v, 'port');
      const ports: [number, string, Transport][] = [
        [15021, '/healthz/ready', { kind: 'plaintext' }],
        [15020, '/healthz/ready', { kind: 'plaintext' }],
        [15090, '/stats/prometheus', { kind: 'plaintext' }],
        [UNDECLARED_PORT, c.path, c.transport],
        [UNDECLARED_PORT, c.path, { kind: 'plaintext' }],
      ];
      const [port, path, transport] = r.pick(ports);
      return [strip({ ...c, port, path, transport })];
    },
  },
  {
    name: 'when',
    applies: (v) => v.headers.length > 0,
    make(r, v) {
      const c = base(r, v, 'when');
      const [name, values] = r.pick(v.headers);
      const value = r.pick([...values.map((x) => x.replace(/\*/g, 'x')), '', 'other']);
      const headers: [string, string][] = r.chance(0.2) ? [] : [[name, value]];
      return [strip({ ...c, headers })];
    },
  },
  {
    name: 'source',
    applies: () => true,
    make(r, v) {
      const c = base(r, v, 'source');
      return [strip({ ...c, from: r.pick(CLIENT_ADDRESSES) })];
    },
  },
  {
    name: 'gateway',
    applies: (v) => v.gateway !== undefined && v.targets.some((t) => t.gatewayHost),
    make(r, v) {
      const routed = v.targets.filter((t) => t.gatewayHost !== undefined);
      const target = r.pick(routed);
      const host = target.gatewayHost ?? target.host;
      const t = r.chance(0.7) ? someToken(r, v) : undefined;
      const path = target.paths.length > 0 ? r.pick(target.paths) : '/';
      const sni = r.pick([
        'auto',
        'auto',
        'none',
        'other.example.com',
        host.toUpperCase(),
        ...v.tlsHosts,
      ]);
      const c = viaGateway(
        v,
        host,
        r.pick([...target.methods, 'GET', 'OPTIONS']),
        r.chance(0.3) ? r.pick(PATH_FORMS)(path, r) : path,
        t ? [r.chance(0.2) ? { ...t, kind: r.pick(TOKEN_KINDS) } : t] : [],
        r.pick(CLIENT_ADDRESSES),
        sni,
      );
      const headers: [string, string][] = [];
      if (r.chance(0.2)) headers.push(['x-forwarded-for', '10.1.2.3']);
      if (r.chance(0.15)) {
        headers.push(['origin', r.pick(['https://shop.example.com', 'https://evil.example'])]);
        headers.push(['access-control-request-method', 'POST']);
      }
      const plain = r.chance(0.15);
      return [
        {
          ...c,
          family: 'gateway',
          ...(plain ? { port: 8080, transport: { kind: 'plaintext' } as const } : {}),
          headers,
        },
      ];
    },
  },
];
