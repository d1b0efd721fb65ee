/**
 * The doctor's data model: the objects it reads from a cluster, the reader interface that
 * hides the cluster (a fake in unit tests, `@kubernetes/client-node` for real), and findings.
 */

/** A Kubernetes object as plain JSON, as the API server and dist/ both hold it. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly spec?: unknown;
  readonly status?: unknown;
  readonly [field: string]: unknown;
}

/** An Istio kind the doctor reads and compares with dist/. */
export interface IstioKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
}

/** Every security.istio.io and networking.istio.io kind, at the version dist/ uses. */
export const ISTIO_KINDS: readonly IstioKind[] = [
  {
    group: 'security.istio.io',
    version: 'v1',
    kind: 'PeerAuthentication',
    plural: 'peerauthentications',
  },
  {
    group: 'security.istio.io',
    version: 'v1',
    kind: 'RequestAuthentication',
    plural: 'requestauthentications',
  },
  {
    group: 'security.istio.io',
    version: 'v1',
    kind: 'AuthorizationPolicy',
    plural: 'authorizationpolicies',
  },
  { group: 'networking.istio.io', version: 'v1', kind: 'Gateway', plural: 'gateways' },
  {
    group: 'networking.istio.io',
    version: 'v1',
    kind: 'VirtualService',
    plural: 'virtualservices',
  },
  {
    group: 'networking.istio.io',
    version: 'v1',
    kind: 'DestinationRule',
    plural: 'destinationrules',
  },
  { group: 'networking.istio.io', version: 'v1', kind: 'ServiceEntry', plural: 'serviceentries' },
  { group: 'networking.istio.io', version: 'v1', kind: 'Sidecar', plural: 'sidecars' },
  {
    group: 'networking.istio.io',
    version: 'v1alpha3',
    kind: 'EnvoyFilter',
    plural: 'envoyfilters',
  },
];

/** The result of fetching a JWKS document. */
export type JwksProbe = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** What the doctor needs from a cluster. Every method may throw `DoctorConfigError`. */
export interface ClusterReader {
  /** A short description of where the reader points (context and server), for messages. */
  readonly target: string;
  listNamespaces(): Promise<readonly KubeObject[]>;
  listPods(namespace: string): Promise<readonly KubeObject[]>;
  listDeployments(namespace: string): Promise<readonly KubeObject[]>;
  /** All objects of an Istio kind in every namespace; `undefined` when its CRD is not installed. */
  listIstio(kind: IstioKind): Promise<readonly KubeObject[] | undefined>;
  /** GETs a JWKS URI with a timeout and checks the answer is a JWKS (`{"keys": [...]}`). */
  probeJwks(uri: string, timeoutMs: number): Promise<JwksProbe>;
}

/** The checks the doctor runs, each with a stable code. */
export type CheckCode =
  | 'missing-sidecar'
  | 'no-strict-mtls'
  | 'no-default-deny'
  | 'drift-missing'
  | 'drift-changed'
  | 'drift-extra'
  | 'jwks-unreachable'
  | 'workload-unselected';

export interface Finding {
  readonly code: CheckCode;
  readonly namespace: string;
  /** `Kind/name` of the object the finding is about. */
  readonly object: string;
  readonly message: string;
}

/** A problem reaching or reading the cluster (wrong context, API unreachable, CRDs missing): exit 2. */
export class DoctorConfigError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'DoctorConfigError';
  }
}

/** `Kind/namespace/name`: the identity of an object for drift comparison. */
export function objectKey(object: KubeObject): string {
  return `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}
