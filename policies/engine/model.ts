/**
 * Shapes shared by the offline policy engine: the Kubernetes / Istio objects it reads,
 * the request it decides and the decision it returns. The engine reads YAML only.
 */

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly creationTimestamp?: string;
}

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly spec?: Record<string, unknown>;
  /** A ConfigMap's data (the engine reads Keycloak realms from it). */
  readonly data?: Record<string, unknown>;
  /** Where the object came from: `file#documentIndex`. */
  readonly source: string;
}

/** The modeled objects of a set of manifests, in input order. */
export interface Manifests {
  readonly objects: readonly K8sObject[];
}

export interface TokenLocation {
  readonly header?: string;
  readonly prefix?: string;
  readonly param?: string;
  readonly cookie?: string;
}

export interface RequestToken {
  readonly claims: Record<string, unknown>;
  /** false = bad signature or expired. @default true */
  readonly valid?: boolean;
  /** @default the `Authorization: Bearer` header */
  readonly location?: TokenLocation;
}

export interface MeshRequest {
  readonly id?: string | number | null;
  readonly destination: {
    readonly namespace: string;
    readonly labels?: Record<string, string>;
    readonly port?: number;
    /** The name of the container port `port` is, for NetworkPolicy rules that name ports. */
    readonly portName?: string;
    readonly ip?: string;
  };
  readonly source?: {
    readonly mtls?: boolean;
    readonly principal?: string;
    readonly ip?: string;
    /**
     * The pod the request comes from. Given, the NetworkPolicies of the manifests are
     * checked first (egress of this pod, ingress of the destination); absent, they are not.
     */
    readonly pod?: { readonly namespace: string; readonly labels?: Record<string, string> };
  };
  readonly remoteIp?: string;
  readonly protocol?: 'http' | 'tcp';
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly headers?: Record<string, string | readonly string[]>;
  readonly sni?: string;
  readonly tokens?: readonly RequestToken[];
}

/**
 * `reset`: the proxy closes the connection before HTTP (status 0) — plaintext refused by
 * STRICT mTLS, a peer certificate outside the mesh's trust domain, a ClientHello whose SNI
 * no gateway filter chain accepts; `unreachable`: refused by a NetworkPolicy before any
 * proxy sees it (status 0); `blocked`: refused by the caller's own sidecar, whose Sidecar
 * egress does not list the destination under REGISTRY_ONLY (502, or status 0 where the port
 * has no outbound listener).
 */
export type Outcome =
  'allow' | 'deny' | 'unauthenticated' | 'reset' | 'unreachable' | 'blocked' | 'error';

export interface Decision {
  readonly id: string | number | null;
  readonly outcome: Outcome;
  readonly status: number;
  readonly reason: string;
  readonly policies: readonly string[];
}

export type PathNormalization = 'BASE' | 'NONE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

export interface EngineOptions {
  /** @default 'istio-system' */
  readonly rootNamespace?: string;
  /** @default the mesh meshward installs: 'DECODE_AND_MERGE_SLASHES' (mesh.ts INSTALLED_MESH) */
  readonly pathNormalization?: PathNormalization;
  /** The mesh's trust domain: peer certificates outside it fail the handshake. @default 'cluster.local' */
  readonly trustDomain?: string;
  /** @default [] */
  readonly trustDomainAliases?: readonly string[];
  /** `meshConfig.outboundTrafficPolicy.mode`, for Sidecars that set none. @default 'ALLOW_ANY' */
  readonly outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

export const PATH_NORMALIZATIONS: readonly PathNormalization[] = [
  'BASE',
  'NONE',
  'MERGE_SLASHES',
  'DECODE_AND_MERGE_SLASHES',
];

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function objectRef(obj: K8sObject): string {
  return `${obj.kind} ${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
}

export function policyName(obj: K8sObject): string {
  return `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
}
