import { createHash } from 'node:crypto';

import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';

import {
  type CallGraphObject,
  podIdentityOf,
  type PodIdentity,
  WORKLOAD_KINDS,
} from '../../contract/egress.js';
import {
  realmModel,
  REALM_ISSUER_ANNOTATION,
  type RealmUserClass,
  USER_CLASSES_ANNOTATION,
} from '../../contract/keycloak-realm.js';
import {
  audienceDemands,
  checkRealmContract,
  policyTokenRules,
} from '../../contract/realm-contract.js';
import { encodeRoutes, type RouteEntry } from '../../contract/routes.js';

import {
  AuthorizationPolicy,
  AuthorizationPolicySpecAction,
  type AuthorizationPolicySpecRules,
  PeerAuthentication,
  PeerAuthenticationSpecMtlsMode,
  PeerAuthenticationSpecPortLevelMtlsMode,
} from '../imports/security.istio.io.js';

import { type EgressOptions, validateEgress, WorkloadEgress } from './egress.js';
import { type IMeshIdentity, MeshIdentity, principalOf } from './identity.js';
import type { IJwtIssuer } from './jwt-issuer.js';
import {
  type KeycloakLocation,
  realmEndpoints,
  type RealmSpec,
  realmSecretEnv,
  renderRealm,
  type RealmSecretRef,
  validateRealm,
} from './keycloak-realm.js';
import { lazy } from './lazy.js';
import { MeshNamespace } from './mesh-namespace.js';
import { ROUTES_ANNOTATION } from './mesh-service.js';
import { INGRESS_GATEWAY_POD_LABELS, ISTIOD_PEER, networkPeer, sortedPeers } from './network.js';
import { validateName, validatePort } from './validation.js';
import { checkImage, type EnvValue, hardenedPodSpec, imageVersionLabel } from './workload.js';

/** The Keycloak release meshward pins (image tag and the integration tier's server distribution). */
export const KEYCLOAK_VERSION = '26.5.6';
/** The official image, pinned. */
export const KEYCLOAK_IMAGE = `quay.io/keycloak/keycloak:${KEYCLOAK_VERSION}`;
/** The image's own user (`USER 1000` in its Dockerfile). */
export const KEYCLOAK_USER_ID = 1000;
/** Keycloak's management interface (health, metrics). */
export const KEYCLOAK_MANAGEMENT_PORT = 9000;
/** Where `--import-realm` reads realm files. */
export const KEYCLOAK_IMPORT_DIR = '/opt/keycloak/data/import';
/** Pod annotation with the realm JSON's SHA-256, so a realm change restarts Keycloak. */
export const REALM_HASH_ANNOTATION = 'meshward.io/realm-sha256';
/** The annotation that states why a workload-level PeerAuthentication is not STRICT. */
export const PEER_AUTHN_REASON_ANNOTATION = 'meshward.io/reason';

/**
 * - `dev`: `start-dev --import-realm`, embedded H2 database on an emptyDir (the realm
 *   and the demo users are imported afresh at every start): for kind and minikube.
 * - `production`: `start --import-realm` against PostgreSQL; no demo users.
 */
export type KeycloakMode = 'dev' | 'production';

/** An external PostgreSQL database; credentials by Secret reference. */
export interface KeycloakDatabase {
  readonly host: string;
  /** @default 5432 */
  readonly port?: number;
  /** @default 'keycloak' */
  readonly database?: string;
  /** Secret with the user name and password. */
  readonly secretName: string;
  /** @default 'username' */
  readonly usernameKey?: string;
  /** @default 'password' */
  readonly passwordKey?: string;
}

/** The pinned PostgreSQL image of the in-chart database (Debian variant: user 999). */
export const KEYCLOAK_POSTGRES_IMAGE = 'docker.io/library/postgres:17.6';
/** The `postgres` user of the Debian-based image. */
export const KEYCLOAK_POSTGRES_USER_ID = 999;

/**
 * A PostgreSQL StatefulSet in Keycloak's namespace, reachable only by Keycloak (mTLS
 * principal and NetworkPolicy). The Secret's keys become the database owner.
 */
export interface KeycloakInChartDatabase {
  /** Secret with the user name and password of the database owner. */
  readonly secretName: string;
  /** @default 'username' */
  readonly usernameKey?: string;
  /** @default 'password' */
  readonly passwordKey?: string;
  /** @default '2Gi' */
  readonly storage?: string;
  /** @default - the cluster's default StorageClass */
  readonly storageClassName?: string;
  /** @default KEYCLOAK_POSTGRES_IMAGE */
  readonly image?: string;
}

export interface KeycloakProps extends KeycloakLocation {
  readonly mode: KeycloakMode;
  /** The realm, as typed data. Rendered into the ConfigMap `<name>-realm`. */
  readonly realm: RealmSpec;
  /**
   * An external PostgreSQL. `production` mode needs it or `inChartDatabase`; `dev` mode
   * refuses it. @default - none
   */
  readonly database?: KeycloakDatabase;
  /** A PostgreSQL StatefulSet made in the chart (`production` mode only). @default - none */
  readonly inChartDatabase?: KeycloakInChartDatabase;
  /**
   * The Secret holding the temporary bootstrap admin of the `master` realm: its `usernameKey`
   * and `passwordKey` as `KC_BOOTSTRAP_ADMIN_USERNAME` / `KC_BOOTSTRAP_ADMIN_PASSWORD`, or,
   * with `configKey`, a key holding a `keycloak.conf` with the lines
   * `bootstrap-admin-username=...` and `bootstrap-admin-password=...`: mounted as a file and
   * named by `KC_CONFIG_FILE`, so the credentials never enter Keycloak's environment (other
   * options stay environment variables, which take precedence over the file).
   * @default { secretName: 'keycloak-bootstrap-admin', usernameKey: 'username', passwordKey: 'password' }
   */
  readonly bootstrapAdmin?: {
    readonly secretName: string;
    readonly usernameKey?: string;
    readonly passwordKey?: string;
    readonly configKey?: string;
  };
  /** @default KEYCLOAK_IMAGE */
  readonly image?: string;
  /** More than one needs `production` mode (a shared database and a distributed cache). @default 1 */
  readonly replicas?: number;
  /** The ingress gateway that serves the public paths. @default MeshIdentity.ingressGateway() */
  readonly gatewayIdentity?: IMeshIdentity;
  /** Service identities allowed to call the token endpoint (client credentials). @default - none */
  readonly tokenCallers?: readonly IMeshIdentity[];
  /**
   * Make the namespace (a `MeshNamespace`: STRICT mTLS, default deny, restricted PSS).
   * @default true
   */
  readonly createNamespace?: boolean;
  /** Add a NetworkPolicy admitting Keycloak's callers' pods on the HTTP port. @default true */
  readonly networkPolicy?: boolean;
  /** What Keycloak's (and its database's) proxies may reach. @default - only what each calls (EgressOptions) */
  readonly egress?: EgressOptions;
  /**
   * Who fetches the realm's JWKS (`jwksUri`) for the mesh, as istiod is configured
   * (`PILOT_JWT_ENABLE_REMOTE_JWKS`):
   * - `'envoy'`: every proxy that verifies the realm's tokens fetches the keys itself, through
   *   its sidecar over mTLS, as its own identity; the JWKS path admits exactly those proxies
   *   and Keycloak's HTTP port stays STRICT. Needs istiod run with
   *   `PILOT_JWT_ENABLE_REMOTE_JWKS=envoy` (`scripts/istio/mesh.yaml` sets it); with Istio's
   *   default istiod's plaintext fetch is refused and every token gets 401, so it fails closed.
   * - `'istiod'`: istiod fetches them in plaintext (Istio's default); the HTTP port is made
   *   PERMISSIVE so that it can, and the JWKS path admits anyone. Whoever can tamper with
   *   that plaintext can hand the mesh their own signing key (red-team M4).
   * @default 'envoy'
   */
  readonly jwksFetch?: 'envoy' | 'istiod';
  /** @default '500m' */
  readonly cpuRequest?: string;
  /** @default '768Mi' */
  readonly memoryRequest?: string;
  /** @default '1536Mi' */
  readonly memoryLimit?: string;
}

/**
 * Keycloak as the system's OAuth2/OIDC server, in its own mesh namespace.
 *
 * What it makes: the namespace; a ConfigMap with the realm JSON; a ServiceAccount; a
 * Deployment of the official image (hardened: user 1000, read-only root filesystem
 * with emptyDirs for `/opt/keycloak/data` and `/opt/keycloak/lib/quarkus`, which an
 * init container seeds from the image so Keycloak can re-augment at start); a Service
 * (`http` 8080, `http-management` 9000); and the mesh policies:
 *
 * - ALLOW the ingress gateway to the public realm paths and `/resources/*`; ALLOW the
 *   token callers (mTLS principals) to POST the token endpoint; ALLOW the JWKS fetchers
 *   to GET the JWKS (see below); DENY everyone `/admin` and the `master` realm
 *   (administrators use `kubectl port-forward`, which reaches the pod without the sidecar).
 * - The JWKS fetch (`jwksFetch`). `'envoy'` (the default): the proxies verifying the realm's
 *   tokens fetch the keys through their sidecars over mTLS. The fetchers are found at synth
 *   time: every workload of the app that a RequestAuthentication with this `jwksUri`
 *   selects, plus the gateway when one selects it; their principals alone may GET the JWKS,
 *   their pods alone reach the port. `'istiod'`: istiod, which has no sidecar, fetches in
 *   plaintext; a workload PeerAuthentication keeps the pod STRICT but the HTTP port
 *   PERMISSIVE, and plaintext reaches only the JWKS path (every other rule needs an mTLS
 *   principal, which plaintext never has).
 *
 * Secrets are referenced, never written: the bootstrap admin, the database
 * credentials, and the realm's client secrets and demo-user passwords (as `${ENV}`
 * placeholders in the realm JSON fed by `secretKeyRef` variables).
 *
 * @see https://www.keycloak.org/server/containers
 * @see https://www.keycloak.org/server/hostname
 */
export class Keycloak extends Construct implements IJwtIssuer {
  public readonly namespace: string;
  public readonly serviceName: string;
  public readonly port: number;
  public readonly mode: KeycloakMode;
  public readonly realmName: string;
  /** The `iss` of every token of the realm: `<publicUrl>/realms/<realm>`. */
  public readonly issuer: string;
  /** The in-cluster JWKS URL. */
  public readonly jwksUri: string;
  /** The in-cluster token endpoint. */
  public readonly tokenUrl: string;
  /** The audiences the realm's audience scopes put into `aud`. */
  public readonly audiences: readonly string[];
  /** The public base URL (`KC_HOSTNAME`). */
  public readonly publicUrl: string;
  /** The realm import JSON, as rendered into the ConfigMap. */
  public readonly realmJson: string;
  /** The kinds of users the realm holds (its `userClasses`, else its demo users' role sets). */
  public readonly userClasses: readonly RealmUserClass[];
  /** The realm's `${ENV}` placeholders: environment variable → Secret key (dev mode adds the demo users'). */
  public readonly secretEnv: Readonly<Record<string, RealmSecretRef>>;
  public readonly meshNamespace?: MeshNamespace;
  public readonly deployment: k8s.KubeDeployment;
  public readonly service: k8s.KubeService;
  public readonly accessPolicy: AuthorizationPolicy;
  private readonly tokenCallerList: IMeshIdentity[] = [];
  private readonly gatewayIdentity: IMeshIdentity;
  private readonly egress: EgressOptions;
  private readonly jwksFetch: 'envoy' | 'istiod';
  private fetchers?: { principals: string[]; peers: k8s.NetworkPolicyPeer[] };
  private readonly principal: string;
  private readonly replicas: number;
  private readonly owner: string;

  constructor(scope: Construct, id: string, props: KeycloakProps) {
    super(scope, id);
    this.serviceName = props.serviceName ?? 'keycloak';
    this.owner = `Keycloak '${this.serviceName}'`;
    validateName(this.owner, 'serviceName', this.serviceName);
    this.namespace = validateName(this.owner, 'namespace', props.namespace ?? 'auth');
    this.egress = validateEgress(this.owner, props.egress);
    this.port = validatePort(this.owner, 'port', props.port ?? 8080);
    if (this.port === KEYCLOAK_MANAGEMENT_PORT) {
      throw new Error(
        `${this.owner}: 'port' (${this.port}) collides with the management port ${KEYCLOAK_MANAGEMENT_PORT}`,
      );
    }
    if ((props.mode as string) !== 'dev' && (props.mode as string) !== 'production') {
      throw new Error(`${this.owner}: 'mode' ('${props.mode}') must be 'dev' or 'production'`);
    }
    this.mode = props.mode;
    this.replicas = props.replicas ?? 1;
    if (!Number.isInteger(this.replicas) || this.replicas < 1) {
      throw new Error(`${this.owner}: 'replicas' (${this.replicas}) must be a positive integer`);
    }
    if (this.mode === 'dev' && this.replicas > 1) {
      throw new Error(
        `${this.owner}: 'replicas' (${this.replicas}) needs 'production' mode: dev mode keeps its database in the pod`,
      );
    }
    if (props.database && props.inChartDatabase) {
      throw new Error(`${this.owner}: give 'database' (external) or 'inChartDatabase', not both`);
    }
    if (this.mode === 'production' && !props.database && !props.inChartDatabase) {
      throw new Error(
        `${this.owner}: 'production' mode needs 'database' (external PostgreSQL) or 'inChartDatabase'`,
      );
    }
    if (this.mode === 'dev' && (props.database ?? props.inChartDatabase)) {
      throw new Error(
        `${this.owner}: 'dev' mode uses the embedded H2 database; remove 'database'/'inChartDatabase'`,
      );
    }
    const image = props.image ?? KEYCLOAK_IMAGE;
    checkImage(this.owner, 'image', image);
    this.jwksFetch = props.jwksFetch ?? 'envoy';
    if ((this.jwksFetch as string) !== 'envoy' && (this.jwksFetch as string) !== 'istiod') {
      throw new Error(
        `${this.owner}: 'jwksFetch' ('${String(props.jwksFetch)}') must be 'envoy' or 'istiod'`,
      );
    }

    const realm = validateRealm(props.realm);
    this.realmName = realm.name;
    const endpoints = realmEndpoints(realm.name, { ...props, serviceName: this.serviceName });
    this.issuer = endpoints.issuer;
    this.jwksUri = endpoints.jwksUri;
    this.tokenUrl = endpoints.tokenUrl;
    this.publicUrl = new URL(endpoints.issuer).origin;
    this.audiences = [
      ...new Set(
        realm.clientScopes.flatMap((s) =>
          (s.mappers ?? []).flatMap((m) => (m.type === 'audience' ? [m.audience] : [])),
        ),
      ),
    ];
    const includeDevUsers = this.mode === 'dev';
    this.realmJson = JSON.stringify(renderRealm(props.realm, { includeDevUsers }), null, 2) + '\n';
    this.secretEnv = realmSecretEnv(props.realm, { includeDevUsers });
    this.gatewayIdentity = props.gatewayIdentity ?? MeshIdentity.ingressGateway();
    this.principal = principalOf(this.namespace, this.serviceName);
    for (const caller of props.tokenCallers ?? []) this.allowTokenRequests(caller);

    if (props.createNamespace ?? true) {
      this.meshNamespace = new MeshNamespace(this, 'Namespace', { name: this.namespace });
    }
    const name = this.serviceName;
    const labels = {
      app: name,
      'app.kubernetes.io/name': name,
      'app.kubernetes.io/component': 'auth-server',
      'app.kubernetes.io/managed-by': 'meshward',
    };
    const metadata = (objectName = name) => ({
      name: objectName,
      namespace: this.namespace,
      labels,
    });

    this.userClasses = realm.userClasses.map((c) => ({ name: c.name, roles: [...c.realmRoles] }));
    const realmFile = `${realm.name}-realm.json`;
    const configMap = new k8s.KubeConfigMap(this, 'Realm', {
      metadata: {
        ...metadata(`${name}-realm`),
        // What the policy engine needs to read the realm: whose tokens it describes, and
        // (for a realm that imports no users) who will hold which roles.
        annotations: {
          [REALM_ISSUER_ANNOTATION]: this.issuer,
          ...(this.userClasses.length > 0
            ? { [USER_CLASSES_ANNOTATION]: JSON.stringify(this.userClasses) }
            : {}),
        },
      },
      data: { [realmFile]: this.realmJson },
    });
    this.node.addValidation({ validate: () => this.checkContract() });

    const serviceAccount = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: metadata(),
      automountServiceAccountToken: false,
    });

    const admin = props.bootstrapAdmin ?? { secretName: 'keycloak-bootstrap-admin' };
    if (admin.configKey !== undefined && (admin.usernameKey ?? admin.passwordKey) !== undefined) {
      throw new Error(
        `${this.owner}: 'bootstrapAdmin' gives 'configKey' ('${admin.configKey}') and 'usernameKey'/'passwordKey': the file holds both, give one or the other`,
      );
    }
    const adminEnv: Record<string, EnvValue> =
      admin.configKey === undefined
        ? {
            KC_BOOTSTRAP_ADMIN_USERNAME: {
              secretName: admin.secretName,
              key: admin.usernameKey ?? 'username',
            },
            KC_BOOTSTRAP_ADMIN_PASSWORD: {
              secretName: admin.secretName,
              key: admin.passwordKey ?? 'password',
            },
          }
        : { KC_CONFIG_FILE: { secretName: admin.secretName, key: admin.configKey, file: true } };
    const env: Record<string, EnvValue> = {
      ...adminEnv,
      KC_HOSTNAME: this.publicUrl,
      KC_HOSTNAME_BACKCHANNEL_DYNAMIC: 'true',
      KC_HTTP_ENABLED: 'true',
      KC_HTTP_PORT: String(this.port),
      KC_HTTP_MANAGEMENT_PORT: String(KEYCLOAK_MANAGEMENT_PORT),
      KC_PROXY_HEADERS: 'xforwarded',
      // Forwarded headers count only from the pod's own sidecar, which connects from Istio's
      // inbound passthrough address (InboundPassthroughBindIpv4/6): the gateway writes them
      // itself (red-team L5), nothing that reaches the port another way is believed.
      KC_PROXY_TRUSTED_ADDRESSES: SIDECAR_INBOUND_ADDRESSES,
      KC_HEALTH_ENABLED: 'true',
      KC_CACHE: this.replicas > 1 ? 'ispn' : 'local',
      ...this.secretEnv,
    };
    const db = props.inChartDatabase
      ? {
          ...props.inChartDatabase,
          host: this.addPostgres(props.inChartDatabase, labels),
          database: 'keycloak',
          port: 5432,
        }
      : props.database;
    if (db) {
      validateName(this.owner, 'database.secretName', db.secretName);
      Object.assign(env, {
        KC_DB: 'postgres',
        KC_DB_URL_HOST: db.host,
        KC_DB_URL_PORT: String(validatePort(this.owner, 'database.port', db.port ?? 5432)),
        KC_DB_URL_DATABASE: db.database ?? 'keycloak',
        KC_DB_USERNAME: { secretName: db.secretName, key: db.usernameKey ?? 'username' },
        KC_DB_PASSWORD: { secretName: db.secretName, key: db.passwordKey ?? 'password' },
      });
    }

    const probe = (path: string, periodSeconds: number, failureThreshold: number): k8s.Probe => ({
      httpGet: { path, port: k8s.IntOrString.fromString('management') },
      periodSeconds,
      failureThreshold,
      timeoutSeconds: 2,
    });
    const base = hardenedPodSpec(name, {
      name: 'keycloak',
      image,
      env,
      resources: {
        cpuRequest: props.cpuRequest ?? '500m',
        memoryRequest: props.memoryRequest ?? '768Mi',
        memoryLimit: props.memoryLimit ?? '1536Mi',
      },
      userId: KEYCLOAK_USER_ID,
      ports: [
        { name: 'http', containerPort: this.port, protocol: 'TCP' },
        { name: 'management', containerPort: KEYCLOAK_MANAGEMENT_PORT, protocol: 'TCP' },
      ],
      probes: {
        // Re-augmentation and the realm import run before `started`: allow 5 minutes.
        startupProbe: probe('/health/started', 5, 60),
        readinessProbe: probe('/health/ready', 10, 3),
        livenessProbe: probe('/health/live', 10, 3),
      },
    });
    const [container] = base.containers;
    const quarkusMount = { name: 'quarkus', mountPath: '/opt/keycloak/lib/quarkus' };
    const podSpec: k8s.PodSpec = {
      ...base,
      initContainers: [
        {
          // The root filesystem is read-only, yet Keycloak rewrites lib/quarkus when its
          // build options (database, health) differ from the image's: seed an emptyDir
          // with the image's copy, which Keycloak may then rebuild in place.
          name: 'seed-quarkus',
          image,
          imagePullPolicy: 'IfNotPresent',
          command: ['cp', '-R', '/opt/keycloak/lib/quarkus/.', '/seed/'],
          securityContext: container.securityContext,
          resources: {
            requests: {
              cpu: k8s.Quantity.fromString('50m'),
              memory: k8s.Quantity.fromString('32Mi'),
            },
            limits: { memory: k8s.Quantity.fromString('64Mi') },
          },
          volumeMounts: [{ name: 'quarkus', mountPath: '/seed' }],
        },
      ],
      containers: [
        {
          ...container,
          args: this.mode === 'dev' ? ['start-dev', '--import-realm'] : ['start', '--import-realm'],
          volumeMounts: [
            ...(container.volumeMounts ?? []),
            { name: 'data', mountPath: '/opt/keycloak/data' },
            quarkusMount,
            { name: 'realm', mountPath: KEYCLOAK_IMPORT_DIR, readOnly: true },
          ],
        },
      ],
      volumes: [
        ...(base.volumes ?? []),
        { name: 'data', emptyDir: { sizeLimit: k8s.Quantity.fromString('512Mi') } },
        { name: 'quarkus', emptyDir: { sizeLimit: k8s.Quantity.fromString('256Mi') } },
        { name: 'realm', configMap: { name: configMap.name } },
      ],
    };

    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: metadata(),
      spec: {
        replicas: this.replicas,
        selector: { matchLabels: { app: name } },
        // dev mode keeps its database in the pod: never run two at once.
        ...(this.mode === 'dev' ? { strategy: { type: 'Recreate' } } : {}),
        template: {
          metadata: {
            labels: { app: name, version: KEYCLOAK_VERSION },
            annotations: {
              // A changed realm rolls the pod, so the new realm is imported (dev mode; in
              // production an existing realm is kept: import skips realms that exist).
              [REALM_HASH_ANNOTATION]: createHash('sha256').update(this.realmJson).digest('hex'),
              // The realm import and the database connection need the sidecar up first.
              'proxy.istio.io/config': '{"holdApplicationUntilProxyStarts":true}',
            },
          },
          spec: podSpec,
        },
      },
    });
    new WorkloadEgress(this, 'Egress', {
      namespace: this.namespace,
      name,
      workload: this.deployment,
      options: this.egress,
    });

    this.service = new k8s.KubeService(this, 'Service', {
      metadata: {
        ...metadata(),
        annotations: { [ROUTES_ANNOTATION]: lazy(() => encodeRoutes(this.describeRoutes())) },
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
          {
            name: 'http-management',
            port: KEYCLOAK_MANAGEMENT_PORT,
            targetPort: k8s.IntOrString.fromString('management'),
            appProtocol: 'http',
            protocol: 'TCP',
          },
        ],
      },
    });

    if (this.replicas > 1) {
      new k8s.KubePodDisruptionBudget(this, 'Budget', {
        metadata: metadata(),
        spec: {
          maxUnavailable: k8s.IntOrString.fromNumber(1),
          selector: { matchLabels: { app: name } },
        },
      });
    }

    const jwksPort =
      this.jwksFetch === 'istiod'
        ? new PeerAuthentication(this, 'JwksFetch', {
            metadata: {
              name: `${name}-jwks-fetch`,
              namespace: this.namespace,
              labels,
              annotations: {
                [PEER_AUTHN_REASON_ANNOTATION]:
                  'istiod has no sidecar and fetches the JWKS in plaintext; only the JWKS path is allowed without an mTLS principal',
              },
            },
            spec: {
              selector: { matchLabels: { app: name } },
              mtls: { mode: PeerAuthenticationSpecMtlsMode.STRICT },
              portLevelMtls: {
                [String(this.port)]: { mode: PeerAuthenticationSpecPortLevelMtlsMode.PERMISSIVE },
              },
            },
          })
        : undefined;

    this.accessPolicy = new AuthorizationPolicy(this, 'Access', {
      metadata: { name, namespace: this.namespace, labels },
      spec: lazy(() => ({
        selector: { matchLabels: { app: name } },
        action: AuthorizationPolicySpecAction.ALLOW,
        rules: this.renderRules(),
      })),
    });

    const denyAdmin = new AuthorizationPolicy(this, 'DenyAdmin', {
      metadata: { name: `${name}-deny-admin`, namespace: this.namespace, labels },
      spec: {
        selector: { matchLabels: { app: name } },
        action: AuthorizationPolicySpecAction.DENY,
        // The port keeps the DENY to the HTTP port (Istio treats HTTP-only DENY fields on a TCP
        // port as deny-all, and istioctl warns about it); the admin console is only served there.
        rules: [{ to: [{ operation: { ports: [String(this.port)], paths: ADMIN_PATHS } }] }],
      },
    });

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

    const children = [
      configMap,
      serviceAccount,
      this.deployment,
      this.service,
      ...(jwksPort ? [jwksPort] : []),
      this.accessPolicy,
      denyAdmin,
    ];
    if (this.meshNamespace) {
      for (const child of children) ApiObject.of(child).addDependency(this.meshNamespace.resource);
    }
    ApiObject.of(this.deployment).addDependency(configMap);
    ApiObject.of(this.deployment).addDependency(serviceAccount);
  }

  /**
   * The in-chart PostgreSQL: a StatefulSet with a volume claim, hardened (user 999,
   * read-only root filesystem, emptyDirs for the socket directory and /tmp), a Service
   * `tcp-postgres`, and an ALLOW policy and NetworkPolicy admitting only Keycloak.
   * Returns the in-cluster host name.
   */
  private addPostgres(db: KeycloakInChartDatabase, keycloakLabels: Record<string, string>): string {
    const name = `${this.serviceName}-postgres`;
    validateName(this.owner, 'inChartDatabase.secretName', db.secretName);
    const image = db.image ?? KEYCLOAK_POSTGRES_IMAGE;
    checkImage(this.owner, 'inChartDatabase.image', image);
    const labels = {
      ...keycloakLabels,
      app: name,
      'app.kubernetes.io/name': name,
      'app.kubernetes.io/component': 'database',
    };
    const metadata = { name, namespace: this.namespace, labels };
    const secret = (key: string) => ({ secretName: db.secretName, key });
    const base = hardenedPodSpec(name, {
      name: 'postgres',
      image,
      env: {
        POSTGRES_USER: secret(db.usernameKey ?? 'username'),
        POSTGRES_PASSWORD: secret(db.passwordKey ?? 'password'),
        POSTGRES_DB: 'keycloak',
        PGDATA: '/var/lib/postgresql/data/pgdata',
      },
      resources: { cpuRequest: '100m', memoryRequest: '256Mi', memoryLimit: '512Mi' },
      userId: KEYCLOAK_POSTGRES_USER_ID,
      ports: [{ name: 'tcp-postgres', containerPort: 5432, protocol: 'TCP' }],
      probes: {
        readinessProbe: {
          exec: { command: ['pg_isready', '-h', '127.0.0.1', '-p', '5432'] },
          periodSeconds: 10,
          failureThreshold: 3,
        },
        livenessProbe: {
          tcpSocket: { port: k8s.IntOrString.fromString('tcp-postgres') },
          periodSeconds: 20,
          failureThreshold: 3,
        },
      },
    });
    const [container] = base.containers;
    const serviceAccount = new k8s.KubeServiceAccount(this, 'PostgresServiceAccount', {
      metadata,
      automountServiceAccountToken: false,
    });
    const service = new k8s.KubeService(this, 'PostgresService', {
      metadata,
      spec: {
        selector: { app: name },
        ports: [
          {
            name: 'tcp-postgres',
            port: 5432,
            targetPort: k8s.IntOrString.fromString('tcp-postgres'),
            appProtocol: 'tcp',
            protocol: 'TCP',
          },
        ],
      },
    });
    const statefulSet = new k8s.KubeStatefulSet(this, 'Postgres', {
      metadata,
      spec: {
        serviceName: name,
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name, version: imageVersionLabel(image) } },
          spec: {
            ...base,
            containers: [
              {
                ...container,
                volumeMounts: [
                  ...(container.volumeMounts ?? []),
                  { name: 'data', mountPath: '/var/lib/postgresql/data' },
                  { name: 'run', mountPath: '/var/run/postgresql' },
                ],
              },
            ],
            volumes: [
              ...(base.volumes ?? []),
              { name: 'run', emptyDir: { sizeLimit: k8s.Quantity.fromString('16Mi') } },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: {
              accessModes: ['ReadWriteOnce'],
              ...(db.storageClassName ? { storageClassName: db.storageClassName } : {}),
              resources: { requests: { storage: k8s.Quantity.fromString(db.storage ?? '2Gi') } },
            },
          },
        ],
      },
    });
    new WorkloadEgress(this, 'PostgresEgress', {
      namespace: this.namespace,
      name,
      workload: statefulSet,
      options: this.egress,
    });
    const policy = new AuthorizationPolicy(this, 'PostgresAccess', {
      metadata,
      spec: {
        selector: { matchLabels: { app: name } },
        action: AuthorizationPolicySpecAction.ALLOW,
        rules: [
          {
            from: [{ source: { principals: [this.principal] } }],
            to: [{ operation: { ports: ['5432'] } }],
          },
        ],
      },
    });
    const networkPolicy = new k8s.KubeNetworkPolicy(this, 'PostgresNetworkPolicy', {
      metadata,
      spec: {
        podSelector: { matchLabels: { app: name } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ podSelector: { matchLabels: { app: this.serviceName } } }],
            ports: [{ port: k8s.IntOrString.fromNumber(5432), protocol: 'TCP' }],
          },
        ],
      },
    });
    ApiObject.of(statefulSet).addDependency(serviceAccount);
    if (this.meshNamespace) {
      for (const child of [serviceAccount, service, statefulSet, policy, networkPolicy]) {
        ApiObject.of(child).addDependency(this.meshNamespace.resource);
      }
    }
    return `${name}.${this.namespace}.svc.cluster.local`;
  }

  /** Lets a service identity call the token endpoint (the client-credentials flow). */
  public allowTokenRequests(caller: IMeshIdentity): void {
    if (this.tokenCallerList.some((c) => c.principal === caller.principal)) {
      throw new Error(`${this.owner}: '${caller.principal}' is already a token caller`);
    }
    this.tokenCallerList.push(caller);
  }

  /** The identities that may call the token endpoint. */
  public get tokenCallers(): readonly IMeshIdentity[] {
    return this.tokenCallerList;
  }

  /** The public paths the gateway may reach. */
  public get publicPaths(): string[] {
    return [`/realms/${this.realmName}/*`, '/resources/*'];
  }

  private get jwksPath(): string {
    return new URL(this.jwksUri).pathname;
  }

  private get tokenPath(): string {
    return new URL(this.tokenUrl).pathname;
  }

  private renderRules(): AuthorizationPolicySpecRules[] {
    const rules: AuthorizationPolicySpecRules[] = [
      {
        from: [{ source: { principals: [this.gatewayIdentity.principal] } }],
        to: [
          {
            operation: {
              methods: GATEWAY_METHODS,
              paths: this.publicPaths,
              ports: [String(this.port)],
            },
          },
        ],
      },
    ];
    if (this.tokenCallerList.length > 0) {
      rules.push({
        from: [
          {
            source: {
              principals: [...new Set(this.tokenCallerList.map((c) => c.principal))].sort(),
            },
          },
        ],
        to: [
          { operation: { methods: ['POST'], paths: [this.tokenPath], ports: [String(this.port)] } },
        ],
      });
    }
    const jwks = {
      to: [{ operation: { methods: ['GET'], paths: [this.jwksPath], ports: [String(this.port)] } }],
    };
    if (this.jwksFetch === 'istiod') {
      // No source: istiod fetches in plaintext (see the class comment). Public keys only.
      rules.push(jwks);
    } else {
      const fetchers = this.jwksFetchers().principals;
      if (fetchers.length > 0)
        rules.push({ from: [{ source: { principals: fetchers } }], ...jwks });
    }
    if (this.replicas > 1) {
      // The distributed cache (JGroups) between Keycloak's own pods.
      rules.push({
        from: [{ source: { principals: [this.principal] } }],
        to: [{ operation: { ports: ['7800', '57800'] } }],
      });
    }
    return rules;
  }

  /** The routes in the shape of `meshward.io/routes` (contract/routes.ts), for the policy engine. */
  private describeRoutes(): RouteEntry[] {
    const route = (methods: string[], paths: string[], principals: string[]): RouteEntry => ({
      methods,
      paths,
      principals,
      public: true,
      audiences: [],
      when: [],
    });
    return [
      route(GATEWAY_METHODS, this.publicPaths, [this.gatewayIdentity.principal]),
      ...(this.tokenCallerList.length > 0
        ? [
            route(
              ['POST'],
              [this.tokenPath],
              [...new Set(this.tokenCallerList.map((c) => c.principal))].sort(),
            ),
          ]
        : []),
      ...(this.jwksFetch === 'istiod'
        ? [route(['GET'], [this.jwksPath], [])]
        : this.jwksFetchers().principals.length > 0
          ? [route(['GET'], [this.jwksPath], this.jwksFetchers().principals)]
          : []),
    ];
  }

  /**
   * The proxies that fetch the JWKS when `jwksFetch` is `'envoy'`: for every
   * RequestAuthentication of the app that names this `jwksUri`, the app's workloads it selects
   * (their ServiceAccounts' principals, their pods), and the ingress gateway when it selects
   * the gateway's pods. Read from the rendered objects, so any construct's workloads count;
   * a workload outside the app is not known here, so its fetch is refused (fails closed, and
   * `meshward lint` reports it as MW015).
   */
  private jwksFetchers(): { principals: string[]; peers: k8s.NetworkPolicyPeer[] } {
    // Rendered once, at synth time (the first lazy value that asks), when the app is complete.
    // Keycloak's own objects are left out: their lazy values lead back here.
    if (this.fetchers) return this.fetchers;
    const own = new Set(this.node.findAll());
    const objects = this.node.root.node
      .findAll()
      .filter((c): c is ApiObject => c instanceof ApiObject && !own.has(c))
      .filter((o) => o.kind === 'RequestAuthentication' || WORKLOAD_KINDS.includes(o.kind))
      .map((o) => ({ kind: o.kind, json: o.toJson() as CallGraphObject }));
    const workloads = objects
      .map(({ json }) => podIdentityOf(json))
      .filter((w): w is PodIdentity => w !== undefined);
    const principals = new Set<string>();
    const peers: k8s.NetworkPolicyPeer[] = [];
    for (const { kind, json } of objects) {
      if (kind !== 'RequestAuthentication') continue;
      const rules = (json.spec?.jwtRules ?? []) as { jwksUri?: unknown }[];
      if (!rules.some((r) => r.jwksUri === this.jwksUri)) continue;
      const namespace = json.metadata?.namespace ?? 'default';
      const selector = (json.spec?.selector as { matchLabels?: Record<string, string> } | undefined)
        ?.matchLabels;
      const matches = (labels: Record<string, string>) =>
        Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
      for (const w of workloads) {
        if (w.namespace !== namespace || !matches(w.labels)) continue;
        principals.add(principalOf(w.namespace, w.serviceAccountName));
        // Its pods by their `app` label (every meshward workload has one), else all labels.
        peers.push({
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
          podSelector: { matchLabels: w.labels.app ? { app: w.labels.app } : { ...w.labels } },
        });
      }
      const gateway = this.gatewayIdentity;
      if (gateway.namespace === namespace && selector && matches(INGRESS_GATEWAY_POD_LABELS)) {
        principals.add(gateway.principal);
        peers.push(networkPeer(gateway, gateway));
      }
    }
    this.fetchers = { principals: [...principals].sort(), peers };
    return this.fetchers;
  }

  /**
   * The realm ↔ policy contract, at synth time: every AuthorizationPolicy and
   * RequestAuthentication of the app that asks for this realm's tokens, checked against what
   * the realm issues to whom (contract/realm-contract.ts; `meshward lint` runs the same checks
   * on dist/ as MW201–MW208). Errors fail the synth; warnings are for `meshward lint`.
   */
  private checkContract(): string[] {
    const objects = this.node.root.node
      .findAll()
      .filter((c): c is ApiObject => c instanceof ApiObject);
    const ref = (o: ApiObject) => `${o.kind} ${o.metadata.namespace ?? 'default'}/${o.name}`;
    const rules = objects
      .filter((o) => o.kind === 'AuthorizationPolicy')
      .flatMap((o) => policyTokenRules(o.toJson(), ref(o)));
    const demands = objects
      .filter((o) => o.kind === 'RequestAuthentication')
      .flatMap((o) => audienceDemands(o.toJson(), ref(o)));
    const realms = this.node.root.node.findAll().filter((c) => c instanceof Keycloak).length;
    const model = realmModel(JSON.parse(this.realmJson), this.issuer, this.userClasses);
    return checkRealmContract(model, rules, demands, { onlyRealm: realms === 1 })
      .filter((p) => p.severity === 'error')
      .map((p) => `${this.owner}: ${p.code} ${p.object}: ${p.message} (fix: ${p.fix})`);
  }

  private renderIngress(): k8s.NetworkPolicyIngressRule[] {
    // The gateway (public paths), the JWKS fetchers (istiod, or the proxies verifying the
    // realm's tokens) and the token callers, by their pods: not every pod of their namespaces.
    return [
      {
        from: sortedPeers([
          networkPeer(this.gatewayIdentity, this.gatewayIdentity),
          ...(this.jwksFetch === 'istiod' ? [ISTIOD_PEER] : this.jwksFetchers().peers),
          ...this.tokenCallerList.map((c) => networkPeer(c, this.gatewayIdentity)),
        ]),
        ports: [{ port: k8s.IntOrString.fromNumber(this.port), protocol: 'TCP' }],
      },
      ...(this.replicas > 1
        ? [
            {
              from: [{ podSelector: { matchLabels: { app: this.serviceName } } }],
              ports: [7800, 57800].map((p) => ({
                port: k8s.IntOrString.fromNumber(p),
                protocol: 'TCP',
              })),
            },
          ]
        : []),
    ];
  }
}

/** The source addresses of a sidecar's connections to its own app (Istio `listener_address.go`). */
const SIDECAR_INBOUND_ADDRESSES = '127.0.0.6/32,::6/128';

/** Login pages post forms; browsers preflight the token endpoint. */
const GATEWAY_METHODS = ['GET', 'POST', 'OPTIONS'];

/** The admin console and REST API, and the `master` realm (where administrators log in). */
const ADMIN_PATHS = ['/admin', '/admin/*', '/realms/master', '/realms/master/*'];
