import { type AuthIdentity, type Check, type RequestContext } from './context.js';
import { anyOf, cidrMatcher, pathMatcher, type StringPredicate } from './match.js';
import { isRecord, type K8sObject, policyName } from './model.js';

export type Action = 'ALLOW' | 'DENY' | 'CUSTOM' | 'AUDIT';

export interface CompiledPolicy {
  readonly name: string;
  readonly object: K8sObject;
  readonly action: Action;
  readonly provider: string | undefined;
  readonly dryRun: boolean;
  /** Rule checks for HTTP requests; a policy matches when any matches. */
  readonly http: readonly Check[];
  /** Rule checks for TCP connections (HTTP-only fields dropped per action). */
  readonly tcp: readonly Check[];
  /**
   * The field checks of every rule that read the request's connection: peer identity
   * (principal, namespace, service account, trust domain), source and remote IP, and the
   * unobservable `experimental.*` keys. They never read `auth`.
   */
  readonly peerChecks: readonly Check[];
  /**
   * The field checks of every rule that read the JWT identity (`requestPrincipals`,
   * `request.auth.*`): they read only `auth`. Each rule check above is a boolean
   * combination of field checks, and every field check is a peer check, an auth check or
   * reads only the operation (host, port, method, path, headers, destination IP, SNI); so
   * two requests that agree on the operation and on every peer and auth check get the
   * same match results.
   */
  readonly authChecks: readonly Check[];
}

type Getter = (ctx: RequestContext) => string | readonly string[] | undefined;

interface FieldCheck {
  readonly check: Check;
  readonly httpOnly: boolean;
  /** What the check reads (see `CompiledPolicy.peerChecks` / `authChecks`). */
  readonly reads: Reads;
}

type Reads = 'operation' | 'peer' | 'auth';

const ALWAYS: Check = () => true;

function strings(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) return undefined;
  return value.map((v) => String(v));
}

/** (values empty or any matches) AND no notValue matches; negative true when absent. */
function field(
  get: Getter,
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  make: (patterns: readonly string[]) => StringPredicate,
): Check {
  const pos = values && values.length > 0 ? make(values) : undefined;
  const neg = notValues && notValues.length > 0 ? make(notValues) : undefined;
  return (ctx) => {
    const v = get(ctx);
    if (v === undefined) return pos === undefined;
    if (typeof v === 'string') {
      if (pos && !pos(v)) return false;
      return !(neg && neg(v));
    }
    const arr = v;
    if (pos && !arr.some(pos)) return false;
    return !(neg && arr.some(neg));
  };
}

const exactly = (patterns: readonly string[]) => anyOf(patterns);
/**
 * Header and host values: Istio renders `*` as Envoy's `present_match`
 * (`pilot/pkg/security/authz/matcher/header.go`), which admits an empty value too.
 */
const PRESENT: StringPredicate = () => true;
const headersOf = (patterns: readonly string[]) =>
  patterns.includes('*') ? PRESENT : anyOf(patterns);
const hostsOf = (patterns: readonly string[]) =>
  patterns.includes('*') ? PRESENT : anyOf(patterns, true);
const pathsOf = (patterns: readonly string[]): StringPredicate => {
  const ms = patterns.map(pathMatcher);
  return (v) => ms.some((m) => m(v));
};

/**
 * `requestPrincipals` / `request.auth.principal` as Istio renders them
 * (`requestPrincipalGenerator`, `pilot/pkg/security/authz/model/generator.go`): the *pattern*
 * is split at its last `/` into an issuer and a subject part, each matched against the token's
 * own `iss` and `sub` claims (so a `sub` containing `/` still matches). `*` is a non-empty
 * value; a token without a string `sub` matches no pattern. Values are `iss\0sub` (`authKey`).
 */
function requestPrincipalsOf(patterns: readonly string[]): StringPredicate {
  const ms = patterns.map(requestPrincipalPattern);
  if (ms.length === 1) return ms[0];
  return (v) => ms.some((m) => m(v));
}

const NON_EMPTY: StringPredicate = (v) => v.length > 0;
const exact =
  (x: string): StringPredicate =>
  (v) =>
    v === x;

function requestPrincipalPattern(pattern: string): StringPredicate {
  const slash = pattern.lastIndexOf('/');
  const found = slash >= 0;
  const iss = found ? pattern.slice(0, slash) : pattern;
  const sub = found ? pattern.slice(slash + 1) : '';
  let matchIss: StringPredicate;
  let matchSub: StringPredicate;
  if (pattern === '*') {
    matchIss = NON_EMPTY;
    matchSub = NON_EMPTY;
  } else if (pattern.startsWith('*')) {
    if (found) {
      const suffix = iss.slice(1);
      matchIss = iss === '*' ? NON_EMPTY : (v) => v.endsWith(suffix);
      matchSub = exact(sub);
    } else {
      const suffix = pattern.slice(1);
      matchIss = NON_EMPTY;
      matchSub = (v) => v.endsWith(suffix);
    }
  } else if (pattern.endsWith('*')) {
    if (found) {
      const prefix = sub.slice(0, -1);
      matchIss = exact(iss);
      matchSub = sub === '*' ? NON_EMPTY : (v) => v.startsWith(prefix);
    } else {
      const prefix = pattern.slice(0, -1);
      matchIss = (v) => v.startsWith(prefix);
      matchSub = NON_EMPTY;
    }
  } else {
    matchIss = exact(iss);
    matchSub = exact(sub);
  }
  return (v) => {
    const nul = v.indexOf('\0');
    return nul >= 0 && matchIss(v.slice(0, nul)) && matchSub(v.slice(nul + 1));
  };
}

/** The value `requestPrincipalsOf` matches: `iss\0sub`, or none without a string `sub`. */
export function authKey(identity: AuthIdentity | undefined): string | undefined {
  const sub = identity?.claims.sub;
  return identity === undefined || typeof sub !== 'string'
    ? undefined
    : `${identity.issuer}\0${sub}`;
}

const getters = {
  principal: (c: RequestContext) => c.principal,
  namespace: (c: RequestContext) => c.peerNamespace,
  serviceAccount: (c: RequestContext) => c.peerServiceAccount,
  sourceIp: (c: RequestContext) => c.sourceIp,
  remoteIp: (c: RequestContext) => c.remoteIp,
  requestPrincipal: (c: RequestContext) => authKey(c.auth),
  host: (c: RequestContext) => c.host,
  port: (c: RequestContext) => (c.port === undefined ? undefined : String(c.port)),
  method: (c: RequestContext) => c.method,
  path: (c: RequestContext) => c.path,
} satisfies Record<string, Getter>;

function sourceChecks(src: Record<string, unknown>, ns: string): FieldCheck[] {
  const out: FieldCheck[] = [];
  const add = (
    key: string,
    get: Getter,
    make: (p: readonly string[]) => StringPredicate,
    httpOnly = false,
  ) => {
    const notKey = `not${key.charAt(0).toUpperCase()}${key.slice(1)}`;
    const values = strings(src[key]);
    const notValues = strings(src[notKey]);
    if (values === undefined && notValues === undefined) return;
    const reads = key === 'requestPrincipals' ? 'auth' : 'peer';
    out.push({ check: field(get, values, notValues, make), httpOnly, reads });
  };
  add('principals', getters.principal, exactly);
  add('namespaces', getters.namespace, exactly);
  const qualify = (p: readonly string[]) =>
    anyOf(p.map((s) => (s.includes('/') ? s : `${ns}/${s}`)));
  add('serviceAccounts', getters.serviceAccount, qualify);
  add('ipBlocks', getters.sourceIp, cidrMatcher);
  add('remoteIpBlocks', getters.remoteIp, cidrMatcher);
  add('requestPrincipals', getters.requestPrincipal, requestPrincipalsOf, true);
  return out;
}

function operationChecks(op: Record<string, unknown>): FieldCheck[] {
  const out: FieldCheck[] = [];
  const add = (
    key: string,
    get: Getter,
    make: (p: readonly string[]) => StringPredicate,
    httpOnly: boolean,
  ) => {
    const notKey = `not${key.charAt(0).toUpperCase()}${key.slice(1)}`;
    const values = strings(op[key]);
    const notValues = strings(op[notKey]);
    if (values === undefined && notValues === undefined) return;
    out.push({ check: field(get, values, notValues, make), httpOnly, reads: 'operation' });
  };
  add('hosts', getters.host, hostsOf, true);
  add('ports', getters.port, exactly, false);
  add('methods', getters.method, exactly, true);
  add('paths', getters.path, pathsOf, true);
  return out;
}

/** Splits `request.auth.claims[a][b]` into `['a','b']`; undefined when malformed. */
export function claimPath(key: string): string[] | undefined {
  const m = /^request\.auth\.claims((\[[^[\]]+\])+)$/.exec(key);
  if (!m) return undefined;
  return [...(m.at(1) ?? '').matchAll(/\[([^[\]]+)\]/g)].map((x) => x.at(1) ?? '');
}

export const WHEN_KEYS: readonly string[] = [
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'source.serviceAccount',
  'source.trustDomain',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.ip',
  'destination.port',
  'connection.sni',
];

/** Returns an error text when `key` is not a valid `when` key. */
export function whenKeyError(key: string): string | null {
  if (WHEN_KEYS.includes(key)) return null;
  if (/^request\.headers\[[^[\]]+\]$/.test(key)) return null;
  if (claimPath(key)) return null;
  if (key.startsWith('experimental.envoy.filters.')) return null;
  return `unknown when key '${key}'`;
}

function claimGetter(path: readonly string[]): Getter {
  const last = path[path.length - 1] ?? '';
  return (c) => {
    const a = c.auth;
    if (!a) return undefined;
    let v: unknown = a.claims;
    for (const k of path) {
      if (!isRecord(v)) return undefined;
      v = v[k];
    }
    if (v === undefined) return undefined;
    if (typeof v === 'string') {
      const split = last === 'scope' || last === 'permission' || a.spaceDelimitedClaims.has(last);
      return split ? v.split(' ').filter((s) => s.length > 0) : v;
    }
    if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
    return [];
  };
}

function whenGetter(key: string): {
  get: Getter;
  httpOnly: boolean;
  cidr: boolean;
  reads: Reads;
} {
  const header = /^request\.headers\[([^[\]]+)\]$/.exec(key);
  if (header) {
    const name = (header.at(1) ?? '').toLowerCase();
    return { get: (c) => c.headers?.get(name), httpOnly: true, cidr: false, reads: 'operation' };
  }
  const claims = claimPath(key);
  if (claims) return { get: claimGetter(claims), httpOnly: true, cidr: false, reads: 'auth' };
  switch (key) {
    case 'source.ip':
      return { get: getters.sourceIp, httpOnly: false, cidr: true, reads: 'peer' };
    case 'remote.ip':
      return { get: getters.remoteIp, httpOnly: false, cidr: true, reads: 'peer' };
    case 'destination.ip':
      return { get: (c) => c.destinationIp, httpOnly: false, cidr: true, reads: 'operation' };
    case 'source.namespace':
      return { get: getters.namespace, httpOnly: false, cidr: false, reads: 'peer' };
    case 'source.principal':
      return { get: getters.principal, httpOnly: false, cidr: false, reads: 'peer' };
    case 'source.serviceAccount':
      return { get: getters.serviceAccount, httpOnly: false, cidr: false, reads: 'peer' };
    case 'source.trustDomain':
      return { get: (c) => c.trustDomain, httpOnly: false, cidr: false, reads: 'peer' };
    case 'request.auth.principal':
      return { get: getters.requestPrincipal, httpOnly: true, cidr: false, reads: 'auth' };
    case 'request.auth.audiences':
      return { get: (c) => c.auth?.audiences, httpOnly: true, cidr: false, reads: 'auth' };
    case 'request.auth.presenter':
      return { get: (c) => c.auth?.presenter, httpOnly: true, cidr: false, reads: 'auth' };
    case 'destination.port':
      return { get: getters.port, httpOnly: false, cidr: false, reads: 'operation' };
    case 'connection.sni':
      return { get: (c) => c.sni, httpOnly: false, cidr: false, reads: 'operation' };
    default:
      // experimental.envoy.filters.* (and anything unknown): not observable offline.
      return { get: () => undefined, httpOnly: false, cidr: false, reads: 'peer' };
  }
}

function whenChecks(when: unknown): FieldCheck[] {
  if (!Array.isArray(when)) return [];
  return when.filter(isRecord).map((cond) => {
    const key = typeof cond.key === 'string' ? cond.key : '';
    const { get, httpOnly, cidr, reads } = whenGetter(key);
    const make = cidr
      ? cidrMatcher
      : key === 'request.auth.principal'
        ? requestPrincipalsOf
        : key.startsWith('request.headers[')
          ? headersOf
          : exactly;
    return {
      check: field(get, strings(cond.values), strings(cond.notValues), make),
      httpOnly,
      reads,
    };
  });
}

function all(checks: readonly Check[]): Check {
  if (checks.length === 0) return ALWAYS;
  if (checks.length === 1) return checks[0] ?? ALWAYS;
  return (ctx) => {
    for (const c of checks) if (!c(ctx)) return false;
    return true;
  };
}

function any(checks: readonly Check[]): Check {
  if (checks.length === 1) return checks[0] ?? ALWAYS;
  return (ctx) => {
    for (const c of checks) if (c(ctx)) return true;
    return false;
  };
}

interface RuleParts {
  readonly from: FieldCheck[][] | undefined;
  readonly to: FieldCheck[][] | undefined;
  readonly when: FieldCheck[];
}

function ruleParts(rule: Record<string, unknown>, ns: string): RuleParts {
  const from = Array.isArray(rule.from)
    ? rule.from.filter(isRecord).map((f) => sourceChecks(isRecord(f.source) ? f.source : {}, ns))
    : undefined;
  const to = Array.isArray(rule.to)
    ? rule.to.filter(isRecord).map((t) => operationChecks(isRecord(t.operation) ? t.operation : {}))
    : undefined;
  return { from, to, when: whenChecks(rule.when) };
}

/** Builds the rule check; `dropHttp` removes HTTP-only fields (TCP DENY widening). */
function buildRule(parts: RuleParts, dropHttp: boolean): Check {
  const keep = (fs: FieldCheck[]) =>
    all(fs.filter((f) => !dropHttp || !f.httpOnly).map((f) => f.check));
  const checks: Check[] = [];
  if (parts.from) checks.push(any(parts.from.map(keep)));
  if (parts.to) checks.push(any(parts.to.map(keep)));
  checks.push(keep(parts.when));
  return all(checks.filter((c) => c !== ALWAYS));
}

function usesHttpOnly(parts: RuleParts): boolean {
  const has = (fs: FieldCheck[]) => fs.some((f) => f.httpOnly);
  return (parts.from ?? []).some(has) || (parts.to ?? []).some(has) || has(parts.when);
}

export function compilePolicy(obj: K8sObject): CompiledPolicy {
  const spec = obj.spec ?? {};
  const action = (typeof spec.action === 'string' ? spec.action : 'ALLOW') as Action;
  const ns = obj.metadata.namespace ?? 'default';
  const rules = Array.isArray(spec.rules) ? spec.rules.filter(isRecord) : [];
  const parts = rules.map((r) => ruleParts(r, ns));
  const http = parts.map((p) => buildRule(p, false));
  const tcp =
    action === 'ALLOW'
      ? parts.filter((p) => !usesHttpOnly(p)).map((p) => buildRule(p, false))
      : parts.map((p) => buildRule(p, true));
  const provider =
    isRecord(spec.provider) && typeof spec.provider.name === 'string'
      ? spec.provider.name
      : undefined;
  const fields = parts.flatMap((p) => [
    ...(p.from ?? []).flat(),
    ...(p.to ?? []).flat(),
    ...p.when,
  ]);
  return {
    name: policyName(obj),
    object: obj,
    action,
    provider,
    dryRun: obj.metadata.annotations?.['istio.io/dry-run'] === 'true',
    http,
    tcp,
    peerChecks: fields.filter((f) => f.reads === 'peer').map((f) => f.check),
    authChecks: fields.filter((f) => f.reads === 'auth').map((f) => f.check),
  };
}

/** True when any rule of the policy matches the request. */
export function policyMatches(policy: CompiledPolicy, ctx: RequestContext): boolean {
  const rules = ctx.http ? policy.http : policy.tcp;
  for (const r of rules) if (r(ctx)) return true;
  return false;
}
