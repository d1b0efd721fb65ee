/**
 * An Envoy bootstrap with the ingress gateway's HTTP filter chain as Istio builds it from dist/:
 * `jwt_authn` from the gateway's RequestAuthentication (Istio's shape: each issuer a provider,
 * a missing token allowed, a bad one refused with 401), then the EnvoyFilter patches inserted
 * before the router in priority order — their `typed_config` taken from dist/ unchanged — then
 * the router. Istio's RBAC filter (the AuthorizationPolicies) is not part of it: `meshward decide`
 * covers those.
 */
import { stringify } from 'yaml';
import { jwtRules, objectsOfKind } from './dist.js';

export interface HttpFilter {
  readonly name: string;
  readonly typed_config: Record<string, unknown>;
}

interface EnvoyFilterSpec {
  readonly priority?: number;
  readonly workloadSelector?: { readonly labels?: Record<string, string> };
  readonly configPatches?: readonly {
    readonly applyTo?: string;
    readonly match?: {
      readonly listener?: {
        readonly filterChain?: {
          readonly filter?: { readonly subFilter?: { readonly name?: string } };
        };
      };
    };
    readonly patch?: { readonly operation?: string; readonly value?: HttpFilter };
  }[];
}

const ROUTER = 'envoy.filters.http.router';

/**
 * The HTTP filters dist/'s EnvoyFilters insert before the router of the ingress gateway, in the
 * order Istio applies them (ascending priority), limited to `names`; throws naming a filter that
 * dist/ does not synthesize.
 */
export function gatewayEnvoyFilters(names: readonly string[]): HttpFilter[] {
  const patches = objectsOfKind('EnvoyFilter')
    .map((object) => object.spec as EnvoyFilterSpec)
    .filter((spec) => spec.workloadSelector?.labels?.istio === 'ingressgateway')
    .sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0))
    .flatMap((spec) => spec.configPatches ?? [])
    .filter(
      (patch) =>
        patch.applyTo === 'HTTP_FILTER' &&
        patch.patch?.operation === 'INSERT_BEFORE' &&
        patch.match?.listener?.filterChain?.filter?.subFilter?.name === ROUTER,
    )
    .map((patch) => patch.patch?.value)
    .filter((value): value is HttpFilter => value !== undefined);
  for (const name of names) {
    if (!patches.some((filter) => filter.name === name)) {
      throw new Error(`dist/ has no EnvoyFilter inserting ${name} before the gateway's router`);
    }
  }
  return patches.filter((filter) => names.includes(filter.name));
}

/**
 * jwt_authn for the gateway's RequestAuthentication (namespace istio-system). The JWKS is fetched
 * by Envoy (remote_jwks) from `jwksOrigin` — the running Keycloak — at the path of the rule's
 * jwksUri, through the cluster named `jwksCluster`.
 */
export function gatewayJwtAuthn(jwksOrigin: string, jwksCluster: string): HttpFilter {
  const rules = jwtRules('istio-system');
  if (rules.length === 0) throw new Error('dist/ has no RequestAuthentication in istio-system');
  const providers: Record<string, unknown> = {};
  rules.forEach((rule, i) => {
    if (rule.jwksUri === undefined) throw new Error(`jwtRule of ${rule.issuer} has no jwksUri`);
    const path = new URL(rule.jwksUri).pathname;
    providers[`origins-${String(i)}`] = {
      issuer: rule.issuer,
      audiences: rule.audiences ?? [],
      remote_jwks: {
        http_uri: { uri: `${jwksOrigin}${path}`, cluster: jwksCluster, timeout: '5s' },
        cache_duration: '300s',
      },
      forward: rule.forwardOriginalToken ?? false,
      payload_in_metadata: rule.issuer,
      // Istio turns fromHeaders into from_headers; with them Envoy reads no query parameter.
      ...(rule.fromHeaders === undefined
        ? {}
        : {
            from_headers: rule.fromHeaders.map((h) => ({
              name: h.name,
              ...(h.prefix === undefined ? {} : { value_prefix: h.prefix }),
            })),
          }),
    };
  });
  return {
    name: 'envoy.filters.http.jwt_authn',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
      providers,
      rules: [
        {
          match: { prefix: '/' },
          requires: {
            requires_any: {
              requirements: [
                ...Object.keys(providers).map((name) => ({ provider_name: name })),
                { allow_missing: {} },
              ],
            },
          },
        },
      ],
      bypass_cors_preflight: true,
    },
  };
}

export interface GatewayBootstrap {
  /** Listener name -> loopback port; each listener gets its own copy of the filter chain. */
  readonly listeners: Readonly<Record<string, number>>;
  readonly filters: readonly HttpFilter[];
  /** Cluster name -> loopback port; the first one is the upstream of every route. */
  readonly clusters: Readonly<Record<string, number>>;
}

/** Bootstrap YAML (without `admin`) for startEnvoy. */
export function gatewayBootstrap(config: GatewayBootstrap): string {
  const upstream = Object.keys(config.clusters).at(0);
  if (upstream === undefined) throw new Error('a gateway bootstrap needs an upstream cluster');
  const listeners = Object.entries(config.listeners).map(([name, port]) => ({
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type':
                'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: name,
              http_filters: [
                ...config.filters,
                {
                  name: ROUTER,
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
                  },
                },
              ],
              route_config: {
                virtual_hosts: [
                  {
                    name,
                    domains: ['*'],
                    routes: [{ match: { prefix: '/' }, route: { cluster: upstream } }],
                  },
                ],
              },
            },
          },
        ],
      },
    ],
  }));
  const clusters = Object.entries(config.clusters).map(([name, port]) => ({
    name,
    type: 'STATIC',
    connect_timeout: '2s',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
            },
          ],
        },
      ],
    },
  }));
  return stringify({ static_resources: { listeners, clusters } });
}
