/**
 * The doctor's checks: pure functions over a snapshot of the cluster and the objects of dist/.
 * Each returns findings; none talks to the cluster (see `run-doctor.ts` for the reading).
 */
import { type Finding, type KubeObject, objectKey } from './model.js';

/** What the checks read: the live cluster, already fetched. */
export interface ClusterSnapshot {
  /** Namespaces labelled `istio-injection=enabled`. */
  readonly meshNamespaces: readonly string[];
  /** Pods and Deployments of the mesh namespaces. */
  readonly pods: readonly KubeObject[];
  readonly deployments: readonly KubeObject[];
  /** Every live Istio security/networking object (all namespaces). */
  readonly istioObjects: readonly KubeObject[];
  /** Istio's root namespace. @default 'istio-system' */
  readonly rootNamespace?: string;
}

export const MESH_LABEL = 'istio-injection';
export const PROXY_CONTAINER = 'istio-proxy';
const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

interface Named {
  readonly name?: string;
}

interface PodSpecLike {
  readonly containers?: readonly Named[];
  readonly initContainers?: readonly Named[];
}

interface PeerAuthSpec {
  readonly selector?: unknown;
  readonly mtls?: { readonly mode?: string };
}

interface AuthzSpec {
  readonly selector?: { readonly matchLabels?: Readonly<Record<string, string>> };
  readonly targetRef?: unknown;
  readonly targetRefs?: readonly unknown[];
  readonly action?: string;
  readonly rules?: readonly unknown[];
  readonly provider?: unknown;
}

const peerAuthSpec = (object: KubeObject) => (object.spec ?? {}) as PeerAuthSpec;
const authzSpec = (object: KubeObject) => (object.spec ?? {}) as AuthzSpec;
const podSpec = (object: KubeObject) => (object.spec ?? {}) as PodSpecLike;
const ref = (object: KubeObject) => `${object.kind}/${object.metadata.name}`;
const ofKind = (objects: readonly KubeObject[], kind: string, namespace?: string) =>
  objects.filter(
    (object) =>
      object.kind === kind && (namespace === undefined || object.metadata.namespace === namespace),
  );
const enforced = (object: KubeObject) =>
  object.metadata.annotations?.[DRY_RUN_ANNOTATION] !== 'true';

/** Pods in mesh namespaces with no `istio-proxy` container (sidecar or native sidecar init container). */
export function checkSidecars(snapshot: ClusterSnapshot): Finding[] {
  const mesh = new Set(snapshot.meshNamespaces);
  return snapshot.pods
    .filter((pod) => mesh.has(pod.metadata.namespace ?? ''))
    .filter((pod) => {
      const phase = (pod.status as { phase?: string } | undefined)?.phase;
      return phase !== 'Succeeded' && phase !== 'Failed';
    })
    .filter((pod) => {
      const spec = podSpec(pod);
      const names = [...(spec.containers ?? []), ...(spec.initContainers ?? [])].map((c) => c.name);
      return !names.includes(PROXY_CONTAINER);
    })
    .map((pod) => ({
      code: 'missing-sidecar',
      namespace: pod.metadata.namespace ?? '',
      object: ref(pod),
      message: `pod '${pod.metadata.name}' runs in mesh namespace '${pod.metadata.namespace ?? ''}' without an '${PROXY_CONTAINER}' container: its traffic bypasses mTLS and every policy`,
    }));
}

/** True for a namespace-wide AuthorizationPolicy that allows nothing (`spec: {}`). */
export function isAllowNothing(policy: KubeObject): boolean {
  const spec = authzSpec(policy);
  return (
    enforced(policy) &&
    spec.selector === undefined &&
    spec.targetRef === undefined &&
    spec.targetRefs === undefined &&
    (spec.action === undefined || spec.action === 'ALLOW') &&
    spec.rules === undefined
  );
}

/** Mesh namespaces without namespace-wide STRICT mTLS, or without an allow-nothing default deny. */
export function checkNamespaceDefaults(snapshot: ClusterSnapshot): Finding[] {
  const root = snapshot.rootNamespace ?? 'istio-system';
  const namespaceWide = (namespace: string) =>
    ofKind(snapshot.istioObjects, 'PeerAuthentication', namespace).filter(
      (pa) => peerAuthSpec(pa).selector === undefined,
    );
  const meshWideStrict = namespaceWide(root).some((pa) => peerAuthSpec(pa).mtls?.mode === 'STRICT');
  const findings: Finding[] = [];
  for (const namespace of snapshot.meshNamespaces) {
    const policies = namespaceWide(namespace);
    const modes = policies.map((pa) => peerAuthSpec(pa).mtls?.mode ?? 'UNSET');
    const strict =
      modes.length > 0
        ? modes.every((mode) => mode === 'STRICT' || (mode === 'UNSET' && meshWideStrict))
        : meshWideStrict;
    if (!strict) {
      findings.push({
        code: 'no-strict-mtls',
        namespace,
        object: `Namespace/${namespace}`,
        message:
          policies.length === 0
            ? `mesh namespace '${namespace}' has no namespace-wide PeerAuthentication and the mesh default is not STRICT: plaintext is accepted`
            : `mesh namespace '${namespace}' has namespace-wide PeerAuthentication mode ${modes.join(', ')} (want STRICT): plaintext is accepted`,
      });
    }
    if (!ofKind(snapshot.istioObjects, 'AuthorizationPolicy', namespace).some(isAllowNothing)) {
      findings.push({
        code: 'no-default-deny',
        namespace,
        object: `Namespace/${namespace}`,
        message: `mesh namespace '${namespace}' has no default-deny AuthorizationPolicy (spec: {}): workloads without a policy accept every caller`,
      });
    }
  }
  return findings;
}

const labelsMatch = (
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
) => Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value);

/** Deployments in mesh namespaces that no AuthorizationPolicy selects, besides the default deny. */
export function checkUnselectedWorkloads(snapshot: ClusterSnapshot): Finding[] {
  const root = snapshot.rootNamespace ?? 'istio-system';
  const mesh = new Set(snapshot.meshNamespaces);
  const policies = ofKind(snapshot.istioObjects, 'AuthorizationPolicy').filter(
    (policy) => enforced(policy) && !isAllowNothing(policy),
  );
  return snapshot.deployments
    .filter((deployment) => mesh.has(deployment.metadata.namespace ?? ''))
    .filter((deployment) => {
      const namespace = deployment.metadata.namespace ?? '';
      const template = (
        deployment.spec as { template?: { metadata?: { labels?: Record<string, string> } } }
      ).template;
      const labels = template?.metadata?.labels ?? {};
      return !policies.some((policy) => {
        const spec = authzSpec(policy);
        if (spec.targetRef !== undefined || spec.targetRefs !== undefined) return false;
        const policyNamespace = policy.metadata.namespace;
        if (policyNamespace === namespace) return labelsMatch(spec.selector?.matchLabels, labels);
        // A root-namespace policy reaches every namespace (with a selector: matching workloads).
        return policyNamespace === root && labelsMatch(spec.selector?.matchLabels, labels);
      });
    })
    .map((deployment) => ({
      code: 'workload-unselected',
      namespace: deployment.metadata.namespace ?? '',
      object: ref(deployment),
      message: `deployment '${deployment.metadata.name}' is selected by no AuthorizationPolicy besides the default deny: every request to it is refused`,
    }));
}

/**
 * True when every field `expected` sets has the same value in `actual` (objects: a subset;
 * arrays and scalars: equal, arrays element by element). Fields the server adds are ignored.
 */
export function containsFields(expected: unknown, actual: unknown): boolean {
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      expected.every((item, index) => containsFields(item, actual[index]))
    );
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const live = actual as Record<string, unknown>;
    return Object.entries(expected as Record<string, unknown>).every(([key, value]) =>
      containsFields(value, live[key]),
    );
  }
  return expected === actual;
}

/** The first field path where `actual` differs from what `expected` sets, for messages. */
export function firstDifference(expected: unknown, actual: unknown, path = ''): string {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    const live = (actual ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(expected as Record<string, unknown>)) {
      if (!containsFields(value, live[key]))
        return firstDifference(value, live[key], `${path}.${key}`);
    }
  }
  return `${path.slice(1)}: want ${JSON.stringify(expected)}, live ${actual === undefined ? 'absent' : JSON.stringify(actual)}`;
}

/** The fields of a dist/ object that drift is judged on: spec, labels and annotations. */
function comparable(object: KubeObject): Record<string, unknown> {
  return {
    metadata: {
      ...(object.metadata.labels ? { labels: object.metadata.labels } : {}),
      ...(object.metadata.annotations ? { annotations: object.metadata.annotations } : {}),
    },
    ...(object.spec === undefined ? {} : { spec: object.spec }),
  };
}

/**
 * Drift between the live Istio objects and those in dist/: missing from the cluster, changed
 * (a field dist/ sets has another value live), or extra (live, in a namespace dist/ manages,
 * but not in dist/). `kinds` are the Istio kinds compared.
 */
export function checkDrift(
  snapshot: ClusterSnapshot,
  dist: readonly KubeObject[],
  kinds: ReadonlySet<string>,
): Finding[] {
  const wanted = dist.filter((object) => kinds.has(object.kind));
  const live = new Map(
    snapshot.istioObjects.filter((o) => kinds.has(o.kind)).map((o) => [objectKey(o), o]),
  );
  const managed = new Set(
    dist.map((object) =>
      object.kind === 'Namespace' ? object.metadata.name : (object.metadata.namespace ?? ''),
    ),
  );
  const findings: Finding[] = [];
  for (const object of wanted) {
    const namespace = object.metadata.namespace ?? '';
    const current = live.get(objectKey(object));
    if (current === undefined) {
      findings.push({
        code: 'drift-missing',
        namespace,
        object: ref(object),
        message: `${ref(object)} is in dist/ but not in the cluster`,
      });
    } else if (!containsFields(comparable(object), current)) {
      findings.push({
        code: 'drift-changed',
        namespace,
        object: ref(object),
        message: `${ref(object)} differs from dist/ at ${firstDifference(comparable(object), current)}`,
      });
    }
  }
  const declared = new Set(wanted.map(objectKey));
  for (const object of live.values()) {
    const namespace = object.metadata.namespace ?? '';
    if (managed.has(namespace) && !declared.has(objectKey(object))) {
      findings.push({
        code: 'drift-extra',
        namespace,
        object: ref(object),
        message: `${ref(object)} is in the cluster but not in dist/ (namespace '${namespace}' is managed by meshward)`,
      });
    }
  }
  return findings;
}

/** The distinct JWKS URIs of the live RequestAuthentications, each with the objects using it. */
export function jwksUris(snapshot: ClusterSnapshot): Map<string, KubeObject[]> {
  const uris = new Map<string, KubeObject[]>();
  for (const ra of ofKind(snapshot.istioObjects, 'RequestAuthentication')) {
    const rules = (ra.spec as { jwtRules?: readonly { jwksUri?: string; jwks_uri?: string }[] })
      .jwtRules;
    for (const rule of rules ?? []) {
      const uri = rule.jwksUri ?? rule.jwks_uri;
      if (uri !== undefined) uris.set(uri, [...(uris.get(uri) ?? []), ra]);
    }
  }
  return uris;
}

/** `Kind/name` of an object. */
export const objectRef = ref;
