import { Construct } from 'constructs';

import {
  EnvoyFilter,
  EnvoyFilterSpecConfigPatchesApplyTo as ApplyTo,
  type EnvoyFilterSpecConfigPatches,
  EnvoyFilterSpecConfigPatchesMatchContext as Context,
  EnvoyFilterSpecConfigPatchesPatchOperation as Operation,
  Gateway,
  GatewaySpecServersTlsMode,
  VirtualService,
  type VirtualServiceSpecHttp,
  type VirtualServiceSpecHttpCorsPolicy,
} from '../imports/networking.istio.io.js';
import {
  AuthorizationPolicy,
  AuthorizationPolicySpecAction,
  type AuthorizationPolicySpecRules,
  type AuthorizationPolicySpecRulesWhen,
} from '../imports/security.istio.io.js';

import { claimConditions, type Route, routeConflict } from './access.js';
import {
  BUFFER_FILTER_NAME,
  bufferFilterConfig,
  DEFAULT_MAX_REQUEST_BYTES,
  HTTP_CONNECTION_MANAGER_NAME,
  LOCAL_RATE_LIMIT_FILTER_NAME,
  localRateLimitConfig,
  type LocalRateLimitOptions,
  RATE_LIMIT_FILTER_NAME,
  rateLimitConfig,
  ROUTER_FILTER_NAME,
  virtualHostRateLimits,
} from './envoy-filters.js';
import { validateCidrs } from './gateway-cidr.js';
import { type IMeshIdentity, MeshIdentity } from './identity.js';
import { type IJwtIssuer, JwtIssuer } from './jwt-issuer.js';
import type { Keycloak } from './keycloak.js';
import type { MeshService } from './mesh-service.js';
import { RateLimitService, type RateLimitServiceProps } from './rate-limit.js';
import { type HttpMethod, validateName, validatePort } from './validation.js';

/** The label Istio's default ingress gateway pods carry. */
export const DEFAULT_GATEWAY_SELECTOR: Readonly<Record<string, string>> = {
  istio: 'ingressgateway',
};

/** A route as the gateway needs it: paths, methods, and what token (if any) it takes. */
export type GatewayRoute = Pick<
  Route,
  'methods' | 'paths' | 'public' | 'roles' | 'scopes' | 'clients'
>;

/** A Kubernetes Service the gateway forwards to, with the routes it serves. */
export interface GatewayBackend {
  /** The name routes refer to, e.g. `order-service`. */
  readonly name: string;
  readonly namespace: string;
  readonly serviceName: string;
  readonly port: number;
  readonly routes: readonly GatewayRoute[];
}

/** A shop service as a backend; it must be `exposed` (its own policy admits the gateway). */
export function meshServiceBackend(service: MeshService): GatewayBackend {
  if (!service.exposed) {
    throw new Error(
      `gateway: service '${service.serviceName}' is not exposed; set 'exposed: true' so its policy admits the gateway`,
    );
  }
  return {
    name: service.serviceName,
    namespace: service.namespace,
    serviceName: service.serviceName,
    port: service.port,
    routes: service.routes,
  };
}

/** Keycloak's public paths (login pages, token endpoint, static resources) as a backend: no token. */
export function keycloakBackend(keycloak: Keycloak): GatewayBackend {
  return {
    name: keycloak.serviceName,
    namespace: keycloak.namespace,
    serviceName: keycloak.serviceName,
    port: keycloak.port,
    routes: [
      {
        methods: ['GET', 'POST', 'OPTIONS'],
        paths: keycloak.publicPaths,
        public: true,
        roles: [],
        scopes: [],
        clients: [],
      },
    ],
  };
}

/** A public host name served over HTTPS. */
export interface GatewayHost {
  /** A fully qualified name, e.g. `shop.example.com` (no wildcard). */
  readonly host: string;
  /** The TLS Secret in the gateway's namespace (`istio-system`), type kubernetes.io/tls. */
  readonly credentialName: string;
}

/** Which backend serves a host. */
export interface GatewayRouteIntent {
  readonly host: string;
  /** A backend's `name`. */
  readonly backend: string;
}

/** @see https://istio.io/latest/docs/reference/config/networking/virtual-service/#CorsPolicy */
export interface GatewayCorsOptions {
  /** Exact origins (`https://shop.example.com`); `*` is refused while credentials are allowed. */
  readonly allowOrigins: readonly string[];
  /** The hosts whose routes answer CORS. @default - every host */
  readonly hosts?: readonly string[];
  /** @default true */
  readonly allowCredentials?: boolean;
  /** @default ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] */
  readonly allowMethods?: readonly HttpMethod[];
  /** @default ['authorization', 'content-type'] */
  readonly allowHeaders?: readonly string[];
  /** @default '600s' */
  readonly maxAge?: string;
}

/** The gateway's intent: data only (see `policies/gateway.ts`). */
export interface GatewayIntent {
  readonly hosts: readonly GatewayHost[];
  readonly routes: readonly GatewayRouteIntent[];
  readonly cors?: GatewayCorsOptions;
  /**
   * Only these client addresses (CIDR or single IP) may use the gateway: a DENY policy
   * with `notRemoteIpBlocks`, which no ALLOW policy can override.
   *
   * The address checked is the TCP peer of the gateway pod. Expose the gateway Service with
   * `externalTrafficPolicy: Local` (`scripts/istio/mesh.yaml` does): with the default
   * `Cluster`, kube-proxy rewrites every client to a node address. For the same reason an
   * entry may not admit a whole private range (`10.0.0.0/8`, `172.16.0.0/12`,
   * `192.168.0.0/16`, `100.64.0.0/10`, `fc00::/7`) nor overlap `clusterCidrs`.
   *
   * Behind a load balancer or CDN that forwards `X-Forwarded-For`, set the mesh config
   * `meshConfig.defaultConfig.gatewayTopology.numTrustedProxies` (or the gateway pod
   * annotation `proxy.istio.io/config: '{"gatewayTopology":{"numTrustedProxies":1}}'`) so
   * the address it saw is checked. Then the gateway must be reachable only through that
   * proxy: a client that reaches it directly writes its own `X-Forwarded-For`.
   * @default - every address
   */
  readonly allowedCidrs?: readonly string[];
  /**
   * The cluster's own address ranges: nodes, pods, Services. A client inside them is a node
   * after SNAT, a pod, or the mesh itself, never an internet client; an `allowedCidrs` entry
   * overlapping one is refused.
   * @default - none declared (the private-range check still applies)
   */
  readonly clusterCidrs?: readonly string[];
  /** Request bodies above this many bytes get 413. @default 1048576 (1 MiB) */
  readonly maxRequestBytes?: number;
  /** The local token buckets (→ 429): per client address, and the whole pod's above them; `false` for none. @default - 10 per second, burst 20, per client */
  readonly localRateLimit?: LocalRateLimitOptions | false;
  /** The global, Redis-backed limit. @default - none */
  readonly globalRateLimit?: Omit<RateLimitServiceProps, 'gatewayIdentity'>;
}

export interface ApiGatewayProps extends GatewayIntent {
  /** The services the routes may name. */
  readonly backends: readonly GatewayBackend[];
  /** The issuer whose tokens the edge verifies; needed as soon as a route is not public. */
  readonly issuer?: IJwtIssuer;
  /** The gateway workload's namespace. @default 'istio-system' */
  readonly namespace?: string;
  /** The `Gateway` object's name. @default 'meshward-gateway' */
  readonly name?: string;
  /** Labels of the gateway pods. @default { istio: 'ingressgateway' } */
  readonly selector?: Readonly<Record<string, string>>;
  /** The gateway pods' identity. @default MeshIdentity.ingressGateway() */
  readonly gatewayIdentity?: IMeshIdentity;
}

const HOST = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/;

interface ResolvedRoute {
  readonly host: string;
  readonly backend: GatewayBackend;
  readonly route: GatewayRoute;
}

/**
 * The Istio ingress gateway as the shop's API gateway: TLS termination with an HTTP →
 * HTTPS redirect, routing to the exposed services and Keycloak's public paths, CORS,
 * JWT verification at the edge, an IP allowlist, a request body limit and rate limits.
 *
 * Authorization at the edge (all on the gateway workload):
 * - ALLOW `<name>-access`: each public route (host + methods + paths, no token); each
 *   other route with a valid token from the issuer (`requestPrincipals: [<iss>/*]`)
 *   and the route's role/scope/client claims; CORS preflights (`OPTIONS` with an
 *   allowed `Origin` and an `Access-Control-Request-Method`). Anything else → 403.
 * - DENY `<name>-require-jwt`: a request without the issuer's token to a non-public
 *   path (preflights aside) is refused even if another ALLOW policy on the gateway —
 *   ALLOW policies are ORed — would admit it.
 * - DENY `<name>-ip-allowlist` (with `allowedCidrs`): clients outside the list.
 *
 * The services keep their own policies: the edge is an extra wall, not the only one.
 * @see https://istio.io/latest/docs/tasks/security/authorization/authz-ingress/
 */
export class ApiGateway extends Construct {
  public readonly namespace: string;
  public readonly gatewayName: string;
  public readonly selector: Readonly<Record<string, string>>;
  public readonly gateway: Gateway;
  public readonly virtualServices: VirtualService[] = [];
  public readonly accessPolicy: AuthorizationPolicy;
  public readonly rateLimitService?: RateLimitService;
  private readonly owner: string;

  constructor(scope: Construct, id: string, props: ApiGatewayProps) {
    super(scope, id);
    this.owner = `ApiGateway '${id}'`;
    this.namespace = validateName(this.owner, 'namespace', props.namespace ?? 'istio-system');
    this.gatewayName = validateName(this.owner, 'name', props.name ?? 'meshward-gateway');
    this.selector = { ...(props.selector ?? DEFAULT_GATEWAY_SELECTOR) };
    if (Object.keys(this.selector).length === 0) {
      throw new Error(`${this.owner}: 'selector' is empty, which would select every workload`);
    }
    const gatewayIdentity = props.gatewayIdentity ?? MeshIdentity.ingressGateway();

    const hosts = this.validateHosts(props.hosts);
    const routes = this.resolveRoutes(hosts, props.routes, props.backends);
    // One ALLOW policy holds every host's routes: overlapping routes of a host must agree on
    // the token, or the weaker one opens the other (red-team M3).
    routes.forEach((r, i) => {
      for (const other of routes.slice(0, i).filter((o) => o.host === r.host)) {
        const conflict = routeConflict(r.route, other.route);
        if (conflict !== undefined) {
          throw new Error(
            `${this.owner}: route ${describe(r)} conflicts with route ${describe(other)}: ${conflict}`,
          );
        }
      }
    });
    const cors = props.cors ? this.validateCors(props.cors, hosts) : undefined;
    const needsToken = routes.some((r) => !r.route.public);
    if (needsToken && !props.issuer) {
      throw new Error(
        `${this.owner}: routes need a token (${describe(routes.find((r) => !r.route.public))}) but no 'issuer' is given`,
      );
    }

    this.gateway = new Gateway(this, 'Resource', {
      metadata: { name: this.gatewayName, namespace: this.namespace },
      spec: {
        selector: { ...this.selector },
        servers: [
          ...hosts.map((h) => ({
            port: { number: 443, name: `https-${slug(h.host)}`, protocol: 'HTTPS' },
            hosts: [h.host],
            tls: { mode: GatewaySpecServersTlsMode.SIMPLE, credentialName: h.credentialName },
          })),
          {
            port: { number: 80, name: 'http', protocol: 'HTTP' },
            hosts: hosts.map((h) => h.host),
            tls: { httpsRedirect: true },
          },
        ],
      },
    });

    for (const h of hosts) {
      this.virtualServices.push(this.renderVirtualService(h.host, routes, cors));
    }

    if (props.issuer) {
      new JwtIssuer(this, 'Issuer', {
        issuer: props.issuer.issuer,
        jwksUri: props.issuer.jwksUri,
        audiences: props.issuer.audiences,
        ...(props.issuer.rolesClaim ? { rolesClaim: props.issuer.rolesClaim } : {}),
        ...(props.issuer.rolesClaimFormat
          ? { rolesClaimFormat: props.issuer.rolesClaimFormat }
          : {}),
      }).bindTo(this.namespace, {
        name: `${this.gatewayName}-jwt`,
        selector: { ...this.selector },
      });
    }
    const issuer = props.issuer?.issuer;
    this.accessPolicy = this.policy('Access', 'access', AuthorizationPolicySpecAction.ALLOW, [
      ...routes.map((r) => edgeRule(r, props.issuer)),
      ...(cors ? [preflightRule(cors, routes)] : []),
    ]);
    if (issuer) {
      this.policy(
        'RequireJwt',
        'require-jwt',
        AuthorizationPolicySpecAction.DENY,
        hosts.map((h) => requireTokenRule(h.host, routes, issuer)),
      );
    }
    if (props.allowedCidrs) {
      const cidrs = validateCidrs(this.owner, props.allowedCidrs, props.clusterCidrs);
      this.policy('IpAllowlist', 'ip-allowlist', AuthorizationPolicySpecAction.DENY, [
        { from: [{ source: { notRemoteIpBlocks: cidrs } }] },
      ]);
    }

    this.envoyFilter('BodyLimit', 'body-limit', FILTER_PRIORITY.bodyLimit, [
      beforeRouter(
        BUFFER_FILTER_NAME,
        bufferFilterConfig(props.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES, this.owner),
      ),
    ]);
    if (props.localRateLimit !== false) {
      this.envoyFilter('LocalRateLimit', 'local-ratelimit', FILTER_PRIORITY.localRateLimit, [
        beforeRouter(
          LOCAL_RATE_LIMIT_FILTER_NAME,
          localRateLimitConfig(props.localRateLimit, this.owner),
        ),
      ]);
    }
    if (props.globalRateLimit) {
      const service = new RateLimitService(this, 'RateLimit', {
        ...props.globalRateLimit,
        gatewayIdentity,
      });
      this.rateLimitService = service;
      this.envoyFilter('RateLimitFilter', 'ratelimit', FILTER_PRIORITY.globalRateLimit, [
        beforeRouter(
          RATE_LIMIT_FILTER_NAME,
          rateLimitConfig({
            domain: service.domain,
            clusterName: service.clusterName,
            failureModeDeny: service.failureModeDeny,
          }),
        ),
      ]);
      const rateLimits = virtualHostRateLimits(service);
      this.envoyFilter(
        'RateLimitActions',
        'ratelimit-actions',
        FILTER_PRIORITY.globalRateLimit,
        hosts.map((h) => ({
          applyTo: ApplyTo.VIRTUAL_UNDERSCORE_HOST,
          match: {
            context: Context.GATEWAY,
            routeConfiguration: { vhost: { name: `${h.host}:443` } },
          },
          patch: { operation: Operation.MERGE, value: { rate_limits: rateLimits } },
        })),
      );
    }
  }

  private validateHosts(hosts: readonly GatewayHost[]): GatewayHost[] {
    if (hosts.length === 0) throw new Error(`${this.owner}: 'hosts' is empty`);
    const seen = new Set<string>();
    for (const h of hosts) {
      if (!HOST.test(h.host)) {
        throw new Error(
          `${this.owner}: host '${h.host}' must be a fully qualified lower-case DNS name without wildcard`,
        );
      }
      if (seen.has(h.host)) throw new Error(`${this.owner}: host '${h.host}' is listed twice`);
      seen.add(h.host);
      validateSecretName(this.owner, h.credentialName);
    }
    return [...hosts];
  }

  private resolveRoutes(
    hosts: readonly GatewayHost[],
    intents: readonly GatewayRouteIntent[],
    backends: readonly GatewayBackend[],
  ): ResolvedRoute[] {
    const byName = new Map(backends.map((b) => [b.name, b]));
    const known = new Set(hosts.map((h) => h.host));
    const resolved: ResolvedRoute[] = [];
    for (const intent of intents) {
      if (!known.has(intent.host)) {
        throw new Error(
          `${this.owner}: route to '${intent.backend}' names host '${intent.host}', which is not in 'hosts' (${[...known].join(', ')})`,
        );
      }
      const backend = byName.get(intent.backend);
      if (!backend) {
        throw new Error(
          `${this.owner}: route on '${intent.host}' names unknown service '${intent.backend}' (known: ${[...byName.keys()].join(', ') || 'none'})`,
        );
      }
      validatePort(this.owner, 'port', backend.port);
      for (const route of backend.routes) resolved.push({ host: intent.host, backend, route });
    }
    for (const h of hosts) {
      if (!resolved.some((r) => r.host === h.host)) {
        throw new Error(`${this.owner}: host '${h.host}' is served by no route`);
      }
    }
    return resolved;
  }

  private validateCors(
    cors: GatewayCorsOptions,
    hosts: readonly GatewayHost[],
  ): Required<GatewayCorsOptions> {
    const credentials = cors.allowCredentials ?? true;
    if (cors.allowOrigins.length === 0) {
      throw new Error(`${this.owner}: 'cors.allowOrigins' is empty; omit 'cors' for no CORS`);
    }
    for (const origin of cors.allowOrigins) {
      if (origin.includes('*')) {
        if (credentials) {
          throw new Error(
            `${this.owner}: CORS origin '${origin}' is a wildcard while credentials are allowed; list exact origins`,
          );
        }
        continue;
      }
      let url: URL | undefined;
      try {
        url = new URL(origin);
      } catch {
        url = undefined;
      }
      if (!url || url.origin !== origin) {
        throw new Error(
          `${this.owner}: CORS origin '${origin}' must be an origin such as 'https://shop.example.com' (scheme, host, optional port; no path)`,
        );
      }
      // A page served over plain http can be rewritten by anyone on the path, and would then
      // make credentialed calls as the user; http only for a page on the developer's machine.
      if (url.protocol !== 'https:' && !LOOPBACK_HOSTS.has(url.hostname)) {
        throw new Error(
          `${this.owner}: CORS origin '${origin}' ('cors.allowOrigins') is not https: a page over plain http can be rewritten on the way and would call with the user's credentials; use https (http only for localhost)`,
        );
      }
    }
    const known = hosts.map((h) => h.host);
    for (const h of cors.hosts ?? []) {
      if (!known.includes(h)) {
        throw new Error(`${this.owner}: 'cors.hosts' names '${h}', which is not in 'hosts'`);
      }
    }
    return {
      allowOrigins: [...cors.allowOrigins],
      hosts: [...(cors.hosts ?? known)],
      allowCredentials: credentials,
      allowMethods: [...(cors.allowMethods ?? ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])],
      allowHeaders: [...(cors.allowHeaders ?? ['authorization', 'content-type'])],
      maxAge: cors.maxAge ?? '600s',
    };
  }

  private renderVirtualService(
    host: string,
    routes: readonly ResolvedRoute[],
    cors: Required<GatewayCorsOptions> | undefined,
  ): VirtualService {
    const corsPolicy: VirtualServiceSpecHttpCorsPolicy | undefined = cors?.hosts.includes(host)
      ? {
          allowOrigins: cors.allowOrigins.map((o) => ({ exact: o })),
          allowCredentials: cors.allowCredentials,
          allowMethods: [...cors.allowMethods],
          allowHeaders: [...cors.allowHeaders],
          maxAge: cors.maxAge,
        }
      : undefined;
    // One match per path prefix (wildcard paths) or exact path, longest first, so the most
    // specific backend wins. An exact path stays exact even when it ends in '/' (the root).
    const matches = new Map<string, { uri: string; prefix: boolean; backend: GatewayBackend }>();
    for (const r of routes.filter((x) => x.host === host)) {
      for (const path of r.route.paths) {
        const match = routingMatch(path);
        const key = `path ${match.prefix ? 'prefix ' : ''}'${match.uri}'`;
        const other = matches.get(key);
        if (other && other.backend !== r.backend) {
          throw new Error(
            `${this.owner}: host '${host}' ${key} is claimed by both '${other.backend.name}' and '${r.backend.name}'`,
          );
        }
        matches.set(key, { ...match, backend: r.backend });
      }
    }
    const http: VirtualServiceSpecHttp[] = [...matches.values()]
      .sort(
        (a, b) =>
          b.uri.length - a.uri.length ||
          a.uri.localeCompare(b.uri) ||
          Number(a.prefix) - Number(b.prefix),
      )
      .map(({ uri, backend, prefix }) => ({
        name: `${backend.name}-${prefix ? 'prefix' : 'exact'}-${slug(uri) || 'root'}`,
        match: [{ uri: prefix ? { prefix: uri } : { exact: uri } }],
        route: [
          {
            destination: {
              host: `${backend.serviceName}.${backend.namespace}.svc.cluster.local`,
              port: { number: backend.port },
            },
          },
        ],
        headers: { request: forwardedHeaders(host) },
        ...(corsPolicy ? { corsPolicy } : {}),
      }));
    return new VirtualService(this, `Routes-${host}`, {
      metadata: { name: `${this.gatewayName}-${slug(host)}`, namespace: this.namespace },
      spec: {
        hosts: [host],
        gateways: [`${this.namespace}/${this.gatewayName}`],
        http,
      },
    });
  }

  private policy(
    id: string,
    suffix: string,
    action: AuthorizationPolicySpecAction,
    rules: AuthorizationPolicySpecRules[],
  ): AuthorizationPolicy {
    return new AuthorizationPolicy(this, id, {
      metadata: { name: `${this.gatewayName}-${suffix}`, namespace: this.namespace },
      spec: { selector: { matchLabels: { ...this.selector } }, action, rules },
    });
  }

  private envoyFilter(
    id: string,
    suffix: string,
    priority: number,
    configPatches: EnvoyFilterSpecConfigPatches[],
  ): EnvoyFilter {
    return new EnvoyFilter(this, id, {
      metadata: { name: `${this.gatewayName}-${suffix}`, namespace: this.namespace },
      spec: { workloadSelector: { labels: { ...this.selector } }, priority, configPatches },
    });
  }
}

/** Hosts an http CORS origin may name: the developer's own machine. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * What every backend hears of the client (red-team L5): Envoy only appends to a client-sent
 * `X-Forwarded-For` and passes `X-Forwarded-Host`/`-Port` through, and a backend that trusts
 * them (Keycloak with `KC_PROXY_HEADERS=xforwarded` takes the left-most address, and rewrites
 * its discovery document's endpoints from the host) would believe the client. So the
 * gateway states them itself: the address it decided on (`%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`,
 * the same one `remoteIpBlocks` checks), the route's host, and nothing else of the kind.
 * Envoy sets `X-Forwarded-Proto` from the connection.
 */
function forwardedHeaders(host: string): { set: Record<string, string>; remove: string[] } {
  return {
    set: {
      'x-forwarded-for': '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%',
      'x-forwarded-host': host,
    },
    remove: [
      'forwarded',
      'x-forwarded-port',
      'x-forwarded-prefix',
      'x-forwarded-server',
      'x-real-ip',
    ],
  };
}

/**
 * The VirtualService match of an AuthorizationPolicy path: a prefix up to the first `*` or
 * `{` for a wildcard or template path, else the exact path.
 */
function routingMatch(path: string): { uri: string; prefix: boolean } {
  const cut = path.search(/[*{]/);
  return cut === -1 ? { uri: path, prefix: false } : { uri: path.slice(0, cut), prefix: true };
}

function hostsOf(host: string): string[] {
  return [host, `${host}:*`];
}

function edgeRule(r: ResolvedRoute, issuer: IJwtIssuer | undefined): AuthorizationPolicySpecRules {
  const operation = {
    hosts: hostsOf(r.host),
    ...(r.route.methods ? { methods: [...r.route.methods] } : {}),
    paths: [...r.route.paths],
  };
  if (r.route.public || issuer === undefined) return { to: [{ operation }] };
  const when: AuthorizationPolicySpecRulesWhen[] = claimConditions(r.route, issuer).map((c) => ({
    key: c.key,
    values: [...c.values],
  }));
  return {
    from: [{ source: { requestPrincipals: [`${issuer.issuer}/*`] } }],
    to: [{ operation }],
    ...(when.length > 0 ? { when } : {}),
  };
}

/** CORS preflights (no token) from an allowed origin, to a path a route of a CORS host serves. */
function preflightRule(
  cors: Required<GatewayCorsOptions>,
  routes: readonly ResolvedRoute[],
): AuthorizationPolicySpecRules {
  const paths = [
    ...new Set(routes.filter((r) => cors.hosts.includes(r.host)).flatMap((r) => r.route.paths)),
  ];
  return {
    to: [{ operation: { hosts: cors.hosts.flatMap(hostsOf), methods: ['OPTIONS'], paths } }],
    when: [
      { key: 'request.headers[origin]', values: [...cors.allowOrigins] },
      { key: 'request.headers[access-control-request-method]', values: ['*'] },
    ],
  };
}

/**
 * EnvoyFilter priorities (lower applies first; Istio's own and unprioritised filters are 0).
 * Each filter is inserted just before the router, so this is also their order in the chain:
 * cheap rejections (429) come before the buffer that holds a body to measure it (413).
 */
const FILTER_PRIORITY = { localRateLimit: 10, globalRateLimit: 20, bodyLimit: 30 } as const;

/** The ingress gateway's readiness listener, served outside the HTTP filter chains. */
const GATEWAY_STATUS_PORT = '15021';

function requireTokenRule(
  host: string,
  routes: readonly ResolvedRoute[],
  issuer: string,
): AuthorizationPolicySpecRules {
  const publicPaths = [
    ...new Set(
      routes.filter((r) => r.host === host && r.route.public).flatMap((r) => r.route.paths),
    ),
  ];
  return {
    from: [{ source: { notRequestPrincipals: [`${issuer}/*`] } }],
    to: [
      {
        operation: {
          hosts: hostsOf(host),
          ...(publicPaths.length > 0 ? { notPaths: publicPaths } : {}),
          // Every listener port: Istio wants a DENY rule of HTTP fields to name its ports, but
          // the gateway's target ports belong to its installation, and naming the wrong ones
          // would switch this rule off. 15021 (the status listener) never reaches this filter.
          notPorts: [GATEWAY_STATUS_PORT],
        },
      },
    ],
    // A preflight carries no token; it is admitted (or not) by the ALLOW policy.
    when: [{ key: 'request.headers[access-control-request-method]', notValues: ['*'] }],
  };
}

function beforeRouter(name: string, typedConfig: object): EnvoyFilterSpecConfigPatches {
  return {
    applyTo: ApplyTo.HTTP_UNDERSCORE_FILTER,
    match: {
      context: Context.GATEWAY,
      listener: {
        filterChain: {
          filter: { name: HTTP_CONNECTION_MANAGER_NAME, subFilter: { name: ROUTER_FILTER_NAME } },
        },
      },
    },
    patch: {
      operation: Operation.INSERT_UNDERSCORE_BEFORE,
      value: { name, typed_config: typedConfig },
    },
  };
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

function validateSecretName(owner: string, name: string): void {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
    throw new Error(`${owner}: 'credentialName' ('${name}') must be a Secret name`);
  }
}

function describe(r: ResolvedRoute | undefined): string {
  return r ? `'${r.backend.name}' ${r.route.paths.join(', ')} on '${r.host}'` : '';
}
