import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import {
  AuthorizationPolicy,
  PeerAuthentication,
  PeerAuthenticationSpecMtlsMode,
} from '../imports/security.istio.io.js';

import { validateName } from './validation.js';

/** Pod Security Standard levels. @see https://kubernetes.io/docs/concepts/security/pod-security-standards/ */
export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

export interface MeshNamespaceProps {
  /** The namespace name (DNS-1123 label). */
  readonly name: string;
  /**
   * Pod Security Standard enforced (and warned and audited) by admission.
   * `restricted` needs the Istio CNI node agent, since `istio-init` needs NET_ADMIN.
   * @default 'restricted'
   */
  readonly podSecurity?: PodSecurityLevel;
  /**
   * Whether every workload gets an Envoy sidecar (`istio-injection: enabled`).
   * @default true
   */
  readonly sidecarInjection?: boolean;
  /**
   * Add a namespace-wide `PeerAuthentication` with mTLS mode STRICT, so plaintext
   * connections are refused.
   * @default true
   */
  readonly strictMtls?: boolean;
  /**
   * Add a namespace-wide allow-nothing `AuthorizationPolicy` (`spec: {}`), so every
   * request is denied unless an ALLOW policy for the workload matches it.
   * @default true
   * @see https://istio.io/latest/docs/ops/best-practices/security/#use-default-deny-patterns
   */
  readonly defaultDeny?: boolean;
  /**
   * Add a namespace-wide default-deny ingress `NetworkPolicy` (`podSelector: {}`), so a pod
   * without a NetworkPolicy of its own (a new one, one another tool made) admits no
   * connection, the sidecar's ports 15020 and 15090 included; each workload's own policy
   * admits its callers. Enforced only where the cluster's CNI enforces NetworkPolicy.
   * @default true
   */
  readonly networkDefaultDeny?: boolean;
  /** Extra labels for the Namespace object. @default - none */
  readonly labels?: Record<string, string>;
}

/**
 * A namespace in the mesh, secure by default: sidecar injection, the `restricted`
 * Pod Security Standard, STRICT mTLS, default deny, and a default-deny ingress NetworkPolicy.
 */
export class MeshNamespace extends Construct {
  public readonly name: string;
  public readonly resource: k8s.KubeNamespace;
  public readonly peerAuthentication?: PeerAuthentication;
  public readonly defaultDeny?: AuthorizationPolicy;
  public readonly networkDefaultDeny?: k8s.KubeNetworkPolicy;

  constructor(scope: Construct, id: string, props: MeshNamespaceProps) {
    super(scope, id);
    this.name = validateName(`MeshNamespace '${id}'`, 'name', props.name);
    const level = props.podSecurity ?? 'restricted';

    this.resource = new k8s.KubeNamespace(this, 'Resource', {
      metadata: {
        name: this.name,
        labels: {
          ...(props.labels ?? {}),
          'istio-injection': (props.sidecarInjection ?? true) ? 'enabled' : 'disabled',
          'pod-security.kubernetes.io/enforce': level,
          'pod-security.kubernetes.io/enforce-version': 'latest',
          'pod-security.kubernetes.io/warn': level,
          'pod-security.kubernetes.io/warn-version': 'latest',
          'pod-security.kubernetes.io/audit': level,
          'pod-security.kubernetes.io/audit-version': 'latest',
        },
      },
    });

    if (props.strictMtls ?? true) {
      this.peerAuthentication = new PeerAuthentication(this, 'StrictMtls', {
        metadata: { name: 'default', namespace: this.name },
        spec: { mtls: { mode: PeerAuthenticationSpecMtlsMode.STRICT } },
      });
    }
    if (props.defaultDeny ?? true) {
      this.defaultDeny = new AuthorizationPolicy(this, 'DefaultDeny', {
        metadata: { name: 'default-deny', namespace: this.name },
        spec: {},
      });
    }
    if (props.networkDefaultDeny ?? true) {
      this.networkDefaultDeny = new k8s.KubeNetworkPolicy(this, 'NetworkDefaultDeny', {
        metadata: { name: 'default-deny-ingress', namespace: this.name },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      });
    }
    for (const child of [this.peerAuthentication, this.defaultDeny, this.networkDefaultDeny]) {
      if (child) ApiObject.of(child).addDependency(this.resource);
    }
  }
}
