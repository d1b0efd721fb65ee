/**
 * Who calls whom, read from the objects themselves: the call graph both the constructs (to
 * render each workload's Istio `Sidecar` egress) and `meshward lint` (to check a hand-written
 * one) derive, so writer and reader cannot drift. Imports nothing but JSON reading.
 *
 * A workload W calls a Service S when an ALLOW AuthorizationPolicy that applies to a pod S
 * selects names W in a rule's `from` (`source.principals` exactly or by Istio's `*` prefix or
 * suffix, `source.namespaces`, `source.serviceAccounts`); and, when W's proxy verifies tokens,
 * the host of every `jwksUri` of the RequestAuthentications applying to W (with
 * `PILOT_JWT_ENABLE_REMOTE_JWKS=envoy` the proxy fetches it, and istiod only wires the fetch
 * to a cluster the proxy's Sidecar lets it see). A rule without `from` names no caller: it
 * opens the route to every identity, but no one has declared calling it.
 *
 * Hosts are spelled as Sidecar `egress.hosts` spells them: `<namespace>/<FQDN>`; a JWKS host
 * outside the cluster's Services is `* /<host>` (without the space: a ServiceEntry in any
 * namespace registers it).
 */

import { isObject, type JsonObject, objectsIn, stringRecord, stringsIn } from './json.js';

/** The SPIFFE trust domain the principals are spelled in (Istio's default). */
const TRUST_DOMAIN = 'cluster.local';

/** The kinds whose pods run a sidecar of their own. */
export const WORKLOAD_KINDS: readonly string[] = [
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Job',
  'CronJob',
  'Pod',
];

/** The kinds the call graph reads; every other kind is ignored. */
export const CALL_GRAPH_KINDS: readonly string[] = [
  'AuthorizationPolicy',
  'RequestAuthentication',
  'Service',
  ...WORKLOAD_KINDS,
];

/** A pod template of a workload, as the call graph sees it. */
export interface PodIdentity {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccountName: string;
}

/** One object as rendered (`ApiObject.toJson()`) or parsed from YAML. */
export interface CallGraphObject {
  readonly kind: string;
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
  };
  readonly spec?: Record<string, unknown>;
}

/** The pod template of a workload object; undefined for other kinds. */
export function podIdentityOf(obj: CallGraphObject): PodIdentity | undefined {
  const spec = obj.spec ?? {};
  let template: JsonObject | undefined;
  if (obj.kind === 'Pod') template = { metadata: obj.metadata, spec };
  else if (obj.kind === 'CronJob') {
    const job = isObject(spec.jobTemplate) ? spec.jobTemplate : {};
    template = isObject(job.spec) && isObject(job.spec.template) ? job.spec.template : undefined;
  } else if (WORKLOAD_KINDS.includes(obj.kind)) {
    template = isObject(spec.template) ? spec.template : undefined;
  }
  if (template === undefined) return undefined;
  const meta = isObject(template.metadata) ? template.metadata : {};
  const podSpec = isObject(template.spec) ? template.spec : {};
  return {
    namespace: obj.metadata?.namespace ?? 'default',
    labels: stringRecord(meta.labels),
    serviceAccountName:
      typeof podSpec.serviceAccountName === 'string' ? podSpec.serviceAccountName : 'default',
  };
}

/** The principal Istio gives a pod's certificate (as AuthorizationPolicy spells it). */
export function podPrincipal(pod: PodIdentity): string {
  return `${TRUST_DOMAIN}/ns/${pod.namespace}/sa/${pod.serviceAccountName}`;
}

/** `namespace/FQDN`: how Sidecar egress names a cluster Service. */
export function serviceEgressHost(namespace: string, name: string): string {
  return `${namespace}/${name}.${namespace}.svc.cluster.local`;
}

/** The call graph of a set of objects. */
export interface CallGraph {
  /** The egress hosts a pod calls, sorted, without duplicates (`istio-system/*` not included). */
  calleesOf(pod: PodIdentity): string[];
}

interface Callee {
  readonly host: string;
  readonly calls: (pod: PodIdentity, principal: string) => boolean;
}

/** The call graph of `objects` (kinds outside CALL_GRAPH_KINDS are ignored). */
export function callGraph(objects: readonly CallGraphObject[], rootNamespace = 'istio-system') {
  const pods = objects.map(podIdentityOf).filter((p): p is PodIdentity => p !== undefined);
  const services = objects
    .filter((o) => o.kind === 'Service')
    .map((o) => ({
      namespace: o.metadata?.namespace ?? 'default',
      name: o.metadata?.name ?? '',
      selector: stringRecord(o.spec?.selector),
    }))
    .filter((s) => s.name !== '' && Object.keys(s.selector).length > 0);

  // The Services in front of the pods a policy selects.
  const servicesFor = (namespace: string, selector: Readonly<Record<string, string>> | null) => {
    const targets = pods.filter(
      (p) =>
        (namespace === rootNamespace || p.namespace === namespace) &&
        (selector === null || matches(selector, p.labels)),
    );
    return services.filter((s) =>
      targets.some((p) => p.namespace === s.namespace && matches(s.selector, p.labels)),
    );
  };

  // Sources naming exact principals only (what the constructs write) go into an index; the
  // others are matched one by one.
  const byPrincipal = new Map<string, Set<string>>();
  const patterned: Callee[] = [];
  for (const policy of objects.filter((o) => o.kind === 'AuthorizationPolicy')) {
    const spec = policy.spec ?? {};
    if ((spec.action ?? 'ALLOW') !== 'ALLOW' || spec.targetRefs !== undefined) continue;
    const namespace = policy.metadata?.namespace ?? 'default';
    const targets = servicesFor(namespace, selectorOf(spec));
    if (targets.length === 0) continue;
    const sources = objectsIn(spec.rules)
      .flatMap((rule) => objectsIn(rule.from))
      .map((from) => (isObject(from.source) ? from.source : {}));
    for (const source of sources) {
      const principals = stringsIn(source.principals);
      const exact =
        source.namespaces === undefined &&
        source.serviceAccounts === undefined &&
        principals.length > 0 &&
        principals.every((p) => !p.includes('*'));
      for (const s of targets) {
        const host = serviceEgressHost(s.namespace, s.name);
        if (!exact) {
          patterned.push({ host, calls: (pod, principal) => sourceNames(source, pod, principal) });
          continue;
        }
        for (const p of principals) {
          const hosts = byPrincipal.get(p) ?? new Set<string>();
          hosts.add(host);
          byPrincipal.set(p, hosts);
        }
      }
    }
  }

  const jwks: { namespace: string; selector: Record<string, string> | null; hosts: string[] }[] =
    objects
      .filter((o) => o.kind === 'RequestAuthentication' && o.spec?.targetRefs === undefined)
      .map((o) => ({
        namespace: o.metadata?.namespace ?? 'default',
        selector: selectorOf(o.spec ?? {}),
        hosts: objectsIn(o.spec?.jwtRules)
          .filter((r) => r.jwks === undefined)
          .map((r) => r.jwksUri)
          .filter((u): u is string => typeof u === 'string')
          .flatMap((u) => jwksHost(u, services)),
      }));

  return {
    calleesOf(pod: PodIdentity): string[] {
      const principal = podPrincipal(pod);
      const hosts = new Set<string>(byPrincipal.get(principal));
      for (const c of patterned) if (c.calls(pod, principal)) hosts.add(c.host);
      for (const ra of jwks) {
        const applies =
          (ra.namespace === rootNamespace && ra.selector === null) ||
          (ra.namespace === pod.namespace &&
            (ra.selector === null || matches(ra.selector, pod.labels)));
        if (applies) ra.hosts.forEach((h) => hosts.add(h));
      }
      return [...hosts].sort();
    },
  } satisfies CallGraph;
}

/** Whether a rule's `source` admits the pod's identity (mTLS fields only). */
function sourceNames(source: JsonObject, pod: PodIdentity, principal: string): boolean {
  const named = (field: string, value: string) =>
    stringsIn(source[field]).some((pattern) => istioMatch(pattern, value));
  const fields = ['principals', 'namespaces', 'serviceAccounts'].filter(
    (f) => source[f] !== undefined,
  );
  if (fields.length === 0) return false;
  return (
    (source.principals === undefined || named('principals', principal)) &&
    (source.namespaces === undefined || named('namespaces', pod.namespace)) &&
    (source.serviceAccounts === undefined ||
      named('serviceAccounts', `${pod.namespace}/${pod.serviceAccountName}`))
  );
}

/** Istio's string match: exact, `*`, `prefix*` or `*suffix`. */
function istioMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return value !== '';
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

/** The egress host of a JWKS URI: a cluster Service's, else `* /<host>`; none when unparsable. */
function jwksHost(uri: string, services: readonly { namespace: string; name: string }[]) {
  let host: string;
  try {
    host = new URL(uri).hostname;
  } catch {
    return [];
  }
  const local = services.find((s) =>
    ['', '.svc', '.svc.cluster.local'].some((tail) => host === `${s.name}.${s.namespace}${tail}`),
  );
  return [local ? serviceEgressHost(local.namespace, local.name) : `*/${host}`];
}

function selectorOf(spec: JsonObject): Record<string, string> | null {
  return isObject(spec.selector) ? stringRecord(spec.selector.matchLabels) : null;
}

/** Whether every label of a `matchLabels`-style selector is on the pod. */
export function matches(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
