import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import { encodeClaimPath } from '../../contract/claims.js';
import { INTENT_ENV } from '../../contract/intent-env.js';
import { encodeRoutes, ROUTES_ANNOTATION } from '../../contract/routes.js';

import {
  AuthorizationPolicy,
  type AuthorizationPolicySpec,
  AuthorizationPolicySpecAction,
} from '../imports/security.istio.io.js';

import {
  describeRoute,
  renderRule,
  type Route,
  type RouteAccess,
  routeConflict,
  routeKeys,
  validateRoute,
} from './access.js';
import { type EgressOptions, validateEgress, WorkloadEgress } from './egress.js';
import { type IMeshIdentity, MeshIdentity, principalOf } from './identity.js';
import { type IJwtIssuer, rolesClaimOf } from './jwt-issuer.js';
import { lazy } from './lazy.js';
import { networkPeer, sortedPeers } from './network.js';
import { validateName, validatePort } from './validation.js';
import {
  DEFAULT_USER_ID,
  type EnvValue,
  hardenedPodSpec,
  type WorkloadResources,
} from './workload.js';

/** Annotation carrying a workload's intended routes (contract/routes.ts). */
export { ROUTES_ANNOTATION };

/** The variables `intentEnv` gives the container (contract/intent-env.ts). */
export { INTENT_ENV };

export interface MeshServiceProps extends WorkloadResources {
  /** Namespace the service runs in (a `MeshNamespace`'s name). */
  readonly namespace: string;
  /** The service name: Deployment, Service, ServiceAccount and `app` label. @default - the construct id */
  readonly name?: string;
  readonly image: string;
  /** The `version` label (Istio telemetry and subsets use it). @default 'v1' */
  readonly version?: string;
  /** Container port, also the Service port, named `http`. @default 8080 */
  readonly port?: number;
  /** @default 1 */
  readonly replicas?: number;
  /** Environment variables; Secret keys by reference only. @default - none */
  readonly env?: Readonly<Record<string, EnvValue>>;
  /** Issuer of the tokens the routes check. Required as soon as a route needs a token. @default - none */
  readonly issuer?: IJwtIssuer;
  /**
   * Reachable from the Istio ingress gateway: the gateway's identity becomes a caller
   * of every route. @default false
   */
  readonly exposed?: boolean;
  /** The ingress gateway's identity, when `exposed`. @default MeshIdentity.ingressGateway() */
  readonly gatewayIdentity?: IMeshIdentity;
  /** Readiness probe path. @default '/readyz' */
  readonly readinessPath?: string;
  /** Liveness probe path. @default '/healthz' */
  readonly livenessPath?: string;
  /** Add a PodDisruptionBudget (`maxUnavailable: 1`). @default true */
  readonly podDisruptionBudget?: boolean;
  /**
   * Add a NetworkPolicy that admits only the callers' pods (and the ingress gateway
   * when `exposed`) on the service port: defence in depth under the mesh. @default true
   */
  readonly networkPolicy?: boolean;
  /** Numeric user the container runs as. @default 10001 */
  readonly userId?: number;
  /**
   * Give the container the service's own intent, so the app can enforce the same rules as
   * defence in depth: `MESHWARD_ROUTES` (the pod's `meshward.io/routes` annotation, through
   * the downward API) and, with an issuer, `JWT_ROLES_CLAIM` (and `JWT_ROLES_CLAIM_FORMAT`
   * when space-delimited). meshward's services refuse to start without them.
   * @default true
   */
  readonly intentEnv?: boolean;
  /** What the service's proxy may reach. @default - only what it calls (EgressOptions) */
  readonly egress?: EgressOptions;
}

/** A service in the mesh that others can call. */
export interface IMeshService extends IMeshIdentity {
  readonly serviceName: string;
  readonly port: number;
  /** In-cluster URL, e.g. `http://payment-service.shop.svc.cluster.local:8080`. */
  readonly url: string;
}

/**
 * A service in the mesh with its own identity: a ServiceAccount named after it, a
 * hardened Deployment, a Service with an `http` port, stable `app`/`version` labels,
 * an optional PDB and NetworkPolicy, and one ALLOW `AuthorizationPolicy` compiled from
 * its routes. With the namespace's default deny, nothing reaches it that no route allows.
 */
export class MeshService extends Construct implements IMeshService {
  public readonly serviceName: string;
  public readonly identityName: string;
  public readonly namespace: string;
  public readonly serviceAccountName: string;
  public readonly principal: string;
  public readonly port: number;
  public readonly url: string;
  public readonly deployment: k8s.KubeDeployment;
  public readonly service: k8s.KubeService;
  public readonly serviceAccount: k8s.KubeServiceAccount;
  public readonly accessPolicy: AuthorizationPolicy;
  /** The workload's Istio `Sidecar` (egress to its callees only), unless `egress.scoped` is false. */
  public readonly egress: WorkloadEgress;
  /** Whether the ingress gateway may call the service (`exposed`). */
  public readonly exposed: boolean;
  private readonly routeList: Route[] = [];
  private readonly routeKeys = new Set<string>();
  private readonly issuer?: IJwtIssuer;
  private readonly gatewayIdentity?: IMeshIdentity;
  private readonly owner: string;

  constructor(scope: Construct, id: string, props: MeshServiceProps) {
    // The name first: an empty one (the id by default) would fail as constructs' own
    // "Only root constructs may have an empty ID", naming neither the prop nor the value.
    super(scope, checkedId(id, props));
    const name = props.name ?? id;
    this.owner = `MeshService '${name}'`;
    this.serviceName = validateName(this.owner, 'name', name);
    this.identityName = name;
    this.namespace = validateName(this.owner, 'namespace', props.namespace);
    this.serviceAccountName = name;
    this.principal = principalOf(this.namespace, name);
    this.port = validatePort(this.owner, 'port', props.port ?? 8080);
    this.url = `http://${name}.${this.namespace}.svc.cluster.local:${this.port}`;
    this.issuer = props.issuer;
    this.exposed = props.exposed ?? false;
    this.gatewayIdentity = props.exposed
      ? (props.gatewayIdentity ?? MeshIdentity.ingressGateway())
      : undefined;
    const replicas = props.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1) {
      throw new Error(`${this.owner}: 'replicas' (${replicas}) must be a positive integer`);
    }
    if (props.image.trim() === '') throw new Error(`${this.owner}: 'image' is empty`);
    const version = props.version ?? 'v1';
    const labels = { app: name, version };
    const metadata = (extra: Record<string, string> = {}) => ({
      name,
      namespace: this.namespace,
      labels: {
        app: name,
        'app.kubernetes.io/name': name,
        'app.kubernetes.io/managed-by': 'meshward',
        ...extra,
      },
    });
    const routesAnnotation = lazy(() =>
      encodeRoutes(this.routeList.map((r) => describeRoute(r, this.issuer))),
    );
    const intentEnv = (props.intentEnv ?? true) ? this.intentEnv() : {};
    if (props.env?.PORT !== undefined) {
      throw new Error(
        `${this.owner}: env 'PORT' (${JSON.stringify(props.env.PORT)}) is set by the construct from 'port' (${this.port}); set 'port' instead (the probes and the Service use it)`,
      );
    }
    for (const variable of Object.keys(intentEnv)) {
      if (props.env?.[variable] !== undefined) {
        throw new Error(
          `${this.owner}: env '${variable}' is set by the construct (intentEnv); remove it or set 'intentEnv: false'`,
        );
      }
    }

    this.serviceAccount = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: metadata(),
      automountServiceAccountToken: false,
    });

    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: metadata({ version }),
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          // On the pod template, so the app can read it (downward API) and a route change
          // rolls the pods that enforce it.
          metadata: { labels, annotations: { [ROUTES_ANNOTATION]: routesAnnotation } },
          spec: hardenedPodSpec(this.serviceAccountName, {
            name,
            image: props.image,
            env: { PORT: String(this.port), ...(props.env ?? {}), ...intentEnv },
            resources: props,
            userId: props.userId ?? DEFAULT_USER_ID,
            ports: [{ name: 'http', containerPort: this.port, protocol: 'TCP' }],
            probes: {
              readinessProbe: {
                httpGet: {
                  path: props.readinessPath ?? '/readyz',
                  port: k8s.IntOrString.fromString('http'),
                },
                periodSeconds: 5,
                failureThreshold: 3,
              },
              livenessProbe: {
                httpGet: {
                  path: props.livenessPath ?? '/healthz',
                  port: k8s.IntOrString.fromString('http'),
                },
                periodSeconds: 10,
                failureThreshold: 3,
              },
            },
          }),
        },
      },
    });

    this.service = new k8s.KubeService(this, 'Service', {
      metadata: {
        ...metadata(),
        annotations: { [ROUTES_ANNOTATION]: routesAnnotation },
      },
      spec: {
        selector: { app: name },
        ports: [
          {
            name: 'http',
            port: this.port,
            targetPort: k8s.IntOrString.fromString('http'),
            appProtocol: 'http',
            protocol: 'TCP',
          },
        ],
      },
    });

    if (props.podDisruptionBudget ?? true) {
      new k8s.KubePodDisruptionBudget(this, 'Budget', {
        metadata: metadata(),
        spec: {
          maxUnavailable: k8s.IntOrString.fromNumber(1),
          selector: { matchLabels: { app: name } },
        },
      });
    }

    if (props.networkPolicy ?? true) {
      new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
        metadata: metadata(),
        spec: {
          podSelector: { matchLabels: { app: name } },
          policyTypes: ['Ingress'],
          ingress: lazy(() => this.renderIngress()),
        },
      });
    }

    this.accessPolicy = new AuthorizationPolicy(this, 'Access', {
      metadata: { name, namespace: this.namespace, labels: { app: name } },
      spec: lazy(() => this.renderPolicy()),
    });

    this.egress = new WorkloadEgress(this, 'Egress', {
      namespace: this.namespace,
      name,
      workload: this.deployment,
      options: validateEgress(this.owner, props.egress),
    });

    this.node.addValidation({
      validate: () =>
        this.routeList.length === 0
          ? [`${this.owner} has no route: add one with addRoute() or allowFrom()`]
          : [],
    });
    ApiObject.of(this.deployment).addDependency(this.serviceAccount);
  }

  /**
   * Lets `callers` (service identities) call the route. With `exposed`, the ingress
   * gateway is a caller of every route too. Returns the validated route.
   *
   * @example payments.allowFrom(orders, { methods: ['POST'], paths: ['/api/payments'], roles: ['USER'] })
   */
  public allowFrom(callers: IMeshIdentity | readonly IMeshIdentity[], access: RouteAccess): Route {
    const list: IMeshIdentity[] = Array.isArray(callers)
      ? [...(callers as IMeshIdentity[])]
      : [callers as IMeshIdentity];
    return this.addRoute(access, list);
  }

  /** Adds a route reachable by the ingress gateway (needs `exposed`) and any extra callers. */
  public addRoute(access: RouteAccess, callers: readonly IMeshIdentity[] = []): Route {
    const label = `${this.owner} route ${access.methods?.join('|') ?? '*'} ${access.paths.join(', ')}`;
    const all = [...(this.gatewayIdentity ? [this.gatewayIdentity] : []), ...callers];
    for (const caller of callers) {
      if (caller.principal === this.principal)
        throw new Error(`${label}: a service cannot be its own caller`);
    }
    const route = validateRoute(label, access, all, this.issuer);
    for (const key of routeKeys(route)) {
      if (this.routeKeys.has(key)) throw new Error(`${label}: duplicates the route '${key}'`);
    }
    for (const other of this.routeList) {
      const conflict = routeConflict(route, other);
      if (conflict !== undefined) {
        const theirs = `${other.methods?.join('|') ?? '*'} ${other.paths.join(', ')}`;
        throw new Error(`${label}: conflicts with the route ${theirs}: ${conflict}`);
      }
    }
    routeKeys(route).forEach((key) => this.routeKeys.add(key));
    this.routeList.push(route);
    return route;
  }

  /** The routes added so far, validated and compiled (paths in Istio syntax). */
  public get routes(): readonly Route[] {
    return this.routeList;
  }

  private intentEnv(): Record<string, EnvValue> {
    const env: Record<string, EnvValue> = {
      [INTENT_ENV.routes]: { fieldPath: `metadata.annotations['${ROUTES_ANNOTATION}']` },
    };
    if (this.issuer) {
      env[INTENT_ENV.rolesClaim] = encodeClaimPath(rolesClaimOf(this.issuer));
      if (this.issuer.rolesClaimFormat === 'space-delimited') {
        env[INTENT_ENV.rolesClaimFormat] = 'space-delimited';
      }
    }
    return env;
  }

  private renderPolicy(): AuthorizationPolicySpec {
    return {
      selector: { matchLabels: { app: this.serviceName } },
      action: AuthorizationPolicySpecAction.ALLOW,
      rules: this.routeList.map((r) => renderRule(r, this.issuer)),
    };
  }

  private renderIngress(): k8s.NetworkPolicyIngressRule[] {
    const from = sortedPeers(
      this.routeList.flatMap((r) => r.callers).map((c) => networkPeer(c, this.gatewayIdentity)),
    );
    return [{ from, ports: [{ port: k8s.IntOrString.fromNumber(this.port), protocol: 'TCP' }] }];
  }
}

/** The construct id, once the name it defaults to is known to be valid. */
function checkedId(id: string, props: MeshServiceProps): string {
  const name = props.name ?? id;
  validateName(`MeshService '${name}'`, 'name', name);
  return id;
}
