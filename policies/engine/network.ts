/**
 * Kubernetes NetworkPolicy, as the API defines it (networking.k8s.io/v1): the layer below the
 * mesh. A connection from one pod to another must be admitted by the egress policies selecting
 * the source pod and by the ingress policies selecting the destination pod; a pod no policy
 * of a direction selects is not isolated in that direction. Rules of all policies selecting a
 * pod are OR-ed; within a rule, `ports` AND `from`/`to`; an absent or empty list matches all.
 *
 * What a real enforcer does with a refused connection varies (kube-network-policies drops the
 * first packet, others reject it): either way the request never reaches the sidecar.
 */
import { cidrMatcher, type StringPredicate } from './match.js';
import { isRecord, type K8sObject, type Manifests, policyName } from './model.js';

/** One side of a connection as NetworkPolicy sees it: a pod, or an address outside the cluster. */
export interface NetworkEndpoint {
  /** A pod: its namespace and labels. Absent: an address no pod selector matches. */
  readonly pod?: { readonly namespace: string; readonly labels: Record<string, string> };
  readonly ip?: string;
}

export interface NetworkConnection {
  readonly source: NetworkEndpoint;
  readonly destination: NetworkEndpoint;
  readonly port: number | undefined;
  /** The destination container port's name, for rules that name ports. */
  readonly portName?: string;
  /** @default 'TCP' */
  readonly protocol?: string;
}

export interface NetworkVerdict {
  readonly admitted: boolean;
  readonly reason: string;
  /** The policies that isolate the refused side (or admitted the connection). */
  readonly policies: readonly string[];
}

type Selector = (labels: Record<string, string>) => boolean;

interface Peer {
  readonly pods: Selector | undefined;
  readonly namespaces: Selector | undefined;
  readonly ip: StringPredicate | undefined;
}

interface PortRule {
  readonly protocol: string;
  readonly port: number | string | undefined;
  readonly endPort: number | undefined;
}

interface Rule {
  readonly ports: readonly PortRule[];
  /** Empty: every peer. */
  readonly peers: readonly Peer[];
}

interface CompiledNetworkPolicy {
  readonly name: string;
  readonly namespace: string;
  readonly selects: Selector;
  /** undefined: the policy does not apply in that direction. */
  readonly ingress: readonly Rule[] | undefined;
  readonly egress: readonly Rule[] | undefined;
}

export interface CompiledNetworkPolicies {
  /** No NetworkPolicy at all: every connection is admitted. */
  readonly empty: boolean;
  admits(connection: NetworkConnection): NetworkVerdict;
}

/** A label selector (`matchLabels` AND `matchExpressions`); the empty selector selects all. */
export function labelSelector(value: unknown, where: string): Selector {
  if (!isRecord(value)) return () => true;
  const ml = isRecord(value.matchLabels) ? value.matchLabels : {};
  const wanted = Object.entries(ml).map(([k, v]) => [k, String(v)] as const);
  const exprs = (Array.isArray(value.matchExpressions) ? value.matchExpressions : []).map(
    (e: unknown) => {
      if (!isRecord(e) || typeof e.key !== 'string') {
        throw new Error(`${where}: matchExpressions entry ${JSON.stringify(e)} has no key`);
      }
      const key = e.key;
      const values = Array.isArray(e.values) ? e.values.map(String) : [];
      switch (e.operator) {
        case 'In':
          return (l: Record<string, string>) => key in l && values.includes(l[key] ?? '');
        case 'NotIn':
          return (l: Record<string, string>) => !(key in l) || !values.includes(l[key] ?? '');
        case 'Exists':
          return (l: Record<string, string>) => key in l;
        case 'DoesNotExist':
          return (l: Record<string, string>) => !(key in l);
        default:
          throw new Error(
            `${where}: matchExpressions operator ${JSON.stringify(e.operator)} (key '${key}') is not In, NotIn, Exists or DoesNotExist`,
          );
      }
    },
  );
  return (labels) =>
    wanted.every(([k, v]) => labels[k] === v) && exprs.every((matches) => matches(labels));
}

function compilePeer(value: unknown, where: string): Peer {
  if (!isRecord(value)) throw new Error(`${where}: a peer must be an object`);
  if (isRecord(value.ipBlock)) {
    const block = value.ipBlock;
    if (typeof block.cidr !== 'string') throw new Error(`${where}: ipBlock has no cidr`);
    const inside = cidrMatcher([block.cidr]);
    const except = cidrMatcher(Array.isArray(block.except) ? block.except.map(String) : []);
    return { pods: undefined, namespaces: undefined, ip: (ip) => inside(ip) && !except(ip) };
  }
  const pods =
    value.podSelector === undefined ? undefined : labelSelector(value.podSelector, where);
  const namespaces =
    value.namespaceSelector === undefined
      ? undefined
      : labelSelector(value.namespaceSelector, where);
  if (pods === undefined && namespaces === undefined) {
    throw new Error(`${where}: a peer needs podSelector, namespaceSelector or ipBlock`);
  }
  return { pods, namespaces, ip: undefined };
}

function compileRules(value: unknown, peersKey: 'from' | 'to', where: string): Rule[] {
  const rules = Array.isArray(value) ? value : [];
  return rules.map((rule: unknown, i) => {
    const at = `${where}[${String(i)}]`;
    if (!isRecord(rule)) throw new Error(`${at}: a rule must be an object`);
    const ports = (Array.isArray(rule.ports) ? rule.ports : []).map((p: unknown) => {
      if (!isRecord(p)) throw new Error(`${at}.ports: an entry must be an object`);
      const port = typeof p.port === 'number' || typeof p.port === 'string' ? p.port : undefined;
      return {
        protocol: typeof p.protocol === 'string' ? p.protocol : 'TCP',
        port,
        endPort: typeof p.endPort === 'number' ? p.endPort : undefined,
      };
    });
    const peers = (Array.isArray(rule[peersKey]) ? rule[peersKey] : []).map((p: unknown) =>
      compilePeer(p, `${at}.${peersKey}`),
    );
    return { ports, peers };
  });
}

function compilePolicy(obj: K8sObject): CompiledNetworkPolicy {
  const spec = obj.spec ?? {};
  const name = policyName(obj);
  const where = `NetworkPolicy ${name}`;
  const types = Array.isArray(spec.policyTypes)
    ? spec.policyTypes.map(String)
    : spec.egress === undefined
      ? ['Ingress']
      : ['Ingress', 'Egress'];
  return {
    name,
    namespace: obj.metadata.namespace ?? 'default',
    selects: labelSelector(spec.podSelector, `${where} podSelector`),
    ingress: types.includes('Ingress')
      ? compileRules(spec.ingress, 'from', `${where} ingress`)
      : undefined,
    egress: types.includes('Egress')
      ? compileRules(spec.egress, 'to', `${where} egress`)
      : undefined,
  };
}

function portMatches(rule: PortRule, c: NetworkConnection): boolean {
  if (rule.protocol !== (c.protocol ?? 'TCP')) return false;
  if (rule.port === undefined) return true;
  if (typeof rule.port === 'string') return rule.port === c.portName;
  if (c.port === undefined) return false;
  return rule.endPort === undefined
    ? c.port === rule.port
    : c.port >= rule.port && c.port <= rule.endPort;
}

/**
 * Compiles the NetworkPolicies of the manifests. Namespace labels come from the manifests'
 * Namespace objects plus the `kubernetes.io/metadata.name` label every namespace carries; a
 * namespace the manifests do not define has only that label.
 */
export function compileNetworkPolicies(m: Manifests): CompiledNetworkPolicies {
  const policies = m.objects.filter((o) => o.kind === 'NetworkPolicy').map(compilePolicy);
  const byNamespace = new Map<string, CompiledNetworkPolicy[]>();
  for (const p of policies)
    byNamespace.set(p.namespace, [...(byNamespace.get(p.namespace) ?? []), p]);
  const namespaceLabels = new Map<string, Record<string, string>>();
  for (const ns of m.objects) {
    if (ns.kind !== 'Namespace') continue;
    namespaceLabels.set(ns.metadata.name, {
      ...ns.metadata.labels,
      'kubernetes.io/metadata.name': ns.metadata.name,
    });
  }
  const labelsOf = (namespace: string) =>
    namespaceLabels.get(namespace) ?? { 'kubernetes.io/metadata.name': namespace };

  /** Does `peer`, written in a policy of `policyNamespace`, match the endpoint? */
  const peerMatches = (peer: Peer, policyNamespace: string, e: NetworkEndpoint): boolean => {
    if (peer.ip) return e.ip !== undefined && peer.ip(e.ip);
    if (!e.pod) return false;
    const nsOk = peer.namespaces
      ? peer.namespaces(labelsOf(e.pod.namespace))
      : e.pod.namespace === policyNamespace;
    return nsOk && (peer.pods === undefined || peer.pods(e.pod.labels));
  };

  // The policies isolating a pod, per direction, kept per labels object: the access matrix asks
  // about the same few pods (the same objects) again and again.
  const isolatingCache = new WeakMap<object, Map<string, CompiledNetworkPolicy[]>>();
  const isolatingPolicies = (
    kind: 'ingress' | 'egress',
    pod: NonNullable<NetworkEndpoint['pod']>,
  ): CompiledNetworkPolicy[] => {
    let perPod = isolatingCache.get(pod.labels);
    if (perPod === undefined)
      isolatingCache.set(pod.labels, (perPod = new Map<string, CompiledNetworkPolicy[]>()));
    const key = `${kind} ${pod.namespace}`;
    let hit = perPod.get(key);
    if (hit === undefined) {
      hit = (byNamespace.get(pod.namespace) ?? []).filter(
        (p) => p[kind] !== undefined && p.selects(pod.labels),
      );
      perPod.set(key, hit);
    }
    return hit;
  };

  /** The verdict of one direction: the policies selecting `self`, their rules matched on `peer`. */
  const direction = (
    kind: 'ingress' | 'egress',
    self: NetworkEndpoint,
    peer: NetworkEndpoint,
    c: NetworkConnection,
  ): NetworkVerdict => {
    const pod = self.pod;
    if (!pod) return { admitted: true, reason: '', policies: [] };
    const isolating = isolatingPolicies(kind, pod);
    if (isolating.length === 0) return { admitted: true, reason: '', policies: [] };
    for (const p of isolating) {
      const rules = p[kind] ?? [];
      const hit = rules.some(
        (r) =>
          (r.ports.length === 0 || r.ports.some((pr) => portMatches(pr, c))) &&
          (r.peers.length === 0 || r.peers.some((pe) => peerMatches(pe, p.namespace, peer))),
      );
      if (hit)
        return { admitted: true, reason: `${kind} admitted by ${p.name}`, policies: [p.name] };
    }
    const names = isolating.map((p) => p.name);
    const port = `${c.port === undefined ? '-' : String(c.port)}/${c.protocol ?? 'TCP'}`;
    return {
      admitted: false,
      // Names what refuses, not who asks: callers the policies treat alike get one reason (the
      // access matrix decides once for them).
      reason: `NetworkPolicy: no ${kind} rule of ${names.join(', ')} admits ${kind === 'ingress' ? 'the source' : 'the destination'} on port ${port}`,
      policies: names,
    };
  };

  return {
    empty: policies.length === 0,
    admits(c) {
      const egress = direction('egress', c.source, c.destination, c);
      if (!egress.admitted) return egress;
      const ingress = direction('ingress', c.destination, c.source, c);
      if (!ingress.admitted) return ingress;
      return {
        admitted: true,
        reason: [egress.reason, ingress.reason].filter((r) => r !== '').join('; '),
        policies: [...egress.policies, ...ingress.policies],
      };
    },
  };
}
