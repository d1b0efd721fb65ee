/**
 * Lint rule MW110: fields of the security objects whose JSON type is wrong (`methods: "GET"`
 * instead of a list). Istio's validation refuses them, and until it does the engine reads such
 * a field as absent, which for a `to` or `from` field means "any": a wider rule than written.
 */
import { isRecord, type K8sObject, objectRef } from './model.js';

export interface TypeFinding {
  readonly code: 'MW110';
  readonly severity: 'error';
  readonly object: string;
  readonly message: string;
  readonly fix: string;
}

const SOURCE_FIELDS = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'serviceAccounts',
  'notServiceAccounts',
];
const OPERATION_FIELDS = [
  'hosts',
  'notHosts',
  'ports',
  'notPorts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
];

type Check = (value: unknown, at: string) => string | undefined;
const show = (v: unknown) => JSON.stringify(v);
const stringList: Check = (v, at) =>
  v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'))
    ? undefined
    : `${at} must be a list of strings, got ${show(v)}`;
const string: Check = (v, at) =>
  v === undefined || typeof v === 'string' ? undefined : `${at} must be a string, got ${show(v)}`;
const boolean: Check = (v, at) =>
  v === undefined || typeof v === 'boolean'
    ? undefined
    : `${at} must be true or false, got ${show(v)}`;
const object: Check = (v, at) =>
  v === undefined || isRecord(v) ? undefined : `${at} must be an object, got ${show(v)}`;
const list: Check = (v, at) =>
  v === undefined || Array.isArray(v) ? undefined : `${at} must be a list, got ${show(v)}`;
const labels: Check = (v, at) =>
  v === undefined || (isRecord(v) && Object.values(v).every((x) => typeof x === 'string'))
    ? undefined
    : `${at} must be a map of strings, got ${show(v)}`;

function fields(v: unknown, at: string, checks: Record<string, Check>): string[] {
  if (!isRecord(v)) return [];
  return Object.entries(checks).flatMap(([k, check]) => check(v[k], `${at}.${k}`) ?? []);
}

function each(v: unknown, at: string, inner: (item: unknown, at: string) => string[]): string[] {
  const shape = list(v, at);
  if (shape !== undefined) return [shape];
  return (Array.isArray(v) ? v : []).flatMap((item, i) => {
    const where = `${at}[${i}]`;
    return isRecord(item) ? inner(item, where) : [`${where} must be an object, got ${show(item)}`];
  });
}

const selector = (spec: Record<string, unknown>) => [
  ...fields(spec, 'spec', { selector: object }),
  ...fields(spec.selector, 'spec.selector', { matchLabels: labels }),
];

function authorizationPolicy(spec: Record<string, unknown>): string[] {
  return [
    ...selector(spec),
    ...fields(spec, 'spec', { action: string, provider: object, rules: list, targetRefs: list }),
    ...each(spec.rules, 'spec.rules', (rule, at) => [
      ...each((rule as Record<string, unknown>).from, `${at}.from`, (f, fat) => [
        ...fields(f, fat, { source: object }),
        ...fields(
          (f as Record<string, unknown>).source,
          `${fat}.source`,
          Object.fromEntries(SOURCE_FIELDS.map((k) => [k, stringList])),
        ),
      ]),
      ...each((rule as Record<string, unknown>).to, `${at}.to`, (t, tat) => [
        ...fields(t, tat, { operation: object }),
        ...fields(
          (t as Record<string, unknown>).operation,
          `${tat}.operation`,
          Object.fromEntries(OPERATION_FIELDS.map((k) => [k, stringList])),
        ),
      ]),
      ...each((rule as Record<string, unknown>).when, `${at}.when`, (w, wat) =>
        fields(w, wat, { key: string, values: stringList, notValues: stringList }),
      ),
    ]),
  ];
}

function requestAuthentication(spec: Record<string, unknown>): string[] {
  return [
    ...selector(spec),
    ...each(spec.jwtRules, 'spec.jwtRules', (r, at) => [
      ...fields(r, at, {
        issuer: string,
        audiences: stringList,
        jwksUri: string,
        jwks: string,
        fromParams: stringList,
        fromCookies: stringList,
        forwardOriginalToken: boolean,
        outputPayloadToHeader: string,
        spaceDelimitedClaims: stringList,
      }),
      ...each((r as Record<string, unknown>).fromHeaders, `${at}.fromHeaders`, (h, hat) =>
        fields(h, hat, { name: string, prefix: string }),
      ),
    ]),
  ];
}

function peerAuthentication(spec: Record<string, unknown>): string[] {
  return [
    ...selector(spec),
    ...fields(spec, 'spec', { mtls: object, portLevelMtls: object }),
    ...fields(spec.mtls, 'spec.mtls', { mode: string }),
  ];
}

const BY_KIND: Readonly<Partial<Record<string, (spec: Record<string, unknown>) => string[]>>> = {
  AuthorizationPolicy: authorizationPolicy,
  RequestAuthentication: requestAuthentication,
  PeerAuthentication: peerAuthentication,
};

export function lintTypes(objects: readonly K8sObject[]): TypeFinding[] {
  return objects.flatMap((o) => {
    const check = BY_KIND[o.kind];
    if (check === undefined || o.spec === undefined) return [];
    return check(o.spec).map((message) => ({
      code: 'MW110' as const,
      severity: 'error' as const,
      object: objectRef(o),
      message: `${message}: Istio refuses the object, and until it does a mistyped field reads as absent (for a rule field: any value)`,
      fix: 'write the field with the type the CRD gives it (lists as [a, b])',
    }));
  });
}
