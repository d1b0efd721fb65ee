import { validateName } from './validation.js';

/** The SPIFFE trust domain of the mesh (Istio's default). */
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

/**
 * A workload identity in the mesh: the ServiceAccount its pods run as, which Istio
 * turns into the mTLS peer principal `cluster.local/ns/<namespace>/sa/<serviceAccount>`.
 */
export interface IMeshIdentity {
  /** A name for messages and the access-matrix, e.g. `order-service`. */
  readonly identityName: string;
  readonly namespace: string;
  readonly serviceAccountName: string;
  /** The peer principal as `AuthorizationPolicy` `principals` spells it (no `spiffe://`). */
  readonly principal: string;
}

export function principalOf(
  namespace: string,
  serviceAccountName: string,
  trustDomain = DEFAULT_TRUST_DOMAIN,
): string {
  return `${trustDomain}/ns/${namespace}/sa/${serviceAccountName}`;
}

/** Identities that are not built by meshward (the ingress gateway, other teams' services). */
export class MeshIdentity implements IMeshIdentity {
  /**
   * The Istio ingress gateway as installed by `istioctl install` / the `gateway` Helm chart.
   * @param namespace @default 'istio-system'
   * @param serviceAccountName @default 'istio-ingressgateway-service-account'
   */
  public static ingressGateway(
    namespace = 'istio-system',
    serviceAccountName = 'istio-ingressgateway-service-account',
  ): MeshIdentity {
    return new MeshIdentity('ingress-gateway', namespace, serviceAccountName);
  }

  /** An existing ServiceAccount in the mesh, by name. */
  public static fromServiceAccount(namespace: string, serviceAccountName: string): MeshIdentity {
    return new MeshIdentity(serviceAccountName, namespace, serviceAccountName);
  }

  public readonly principal: string;

  private constructor(
    public readonly identityName: string,
    public readonly namespace: string,
    public readonly serviceAccountName: string,
  ) {
    validateName('MeshIdentity', 'namespace', namespace);
    validateName('MeshIdentity', 'serviceAccountName', serviceAccountName);
    this.principal = principalOf(namespace, serviceAccountName);
  }
}
