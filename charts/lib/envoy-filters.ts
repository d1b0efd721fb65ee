/**
 * Typed Envoy HTTP filter configurations, rendered as the plain objects Envoy reads
 * (proto field names in snake_case). The gateway's EnvoyFilters embed them, and the
 * integration tier feeds the very same objects to a real Envoy.
 *
 * @see https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/filter/http/http
 */

/** The `@type` of every filter config below. */
export const BUFFER_FILTER_TYPE =
  'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer';
export const LOCAL_RATE_LIMIT_FILTER_TYPE =
  'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
export const RATE_LIMIT_FILTER_TYPE =
  'type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit';

/** Envoy's filter names, as `EnvoyFilter` patches and listeners spell them. */
export const BUFFER_FILTER_NAME = 'envoy.filters.http.buffer';
export const LOCAL_RATE_LIMIT_FILTER_NAME = 'envoy.filters.http.local_ratelimit';
export const RATE_LIMIT_FILTER_NAME = 'envoy.filters.http.ratelimit';
export const ROUTER_FILTER_NAME = 'envoy.filters.http.router';
export const HTTP_CONNECTION_MANAGER_NAME = 'envoy.filters.network.http_connection_manager';

/** The response header the local rate limiter adds to every response it handles. */
export const LOCAL_RATE_LIMIT_HEADER = 'x-local-rate-limit';

/** The default request body limit: 1 MiB. */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;

/** `envoy.extensions.filters.http.buffer.v3.Buffer`: bodies above the limit get 413. */
export interface BufferFilterConfig {
  readonly '@type': typeof BUFFER_FILTER_TYPE;
  readonly max_request_bytes: number;
}

/** A fractional percent of 100%: the filter on for every request. */
export interface RuntimeFractionalPercent {
  readonly runtime_key: string;
  readonly default_value: { readonly numerator: number; readonly denominator: 'HUNDRED' };
}

export interface TokenBucket {
  readonly max_tokens: number;
  readonly tokens_per_fill: number;
  /** A protobuf Duration, e.g. `1s`. */
  readonly fill_interval: string;
}

export interface HeaderValueOption {
  readonly append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' | 'APPEND_IF_EXISTS_OR_ADD';
  readonly header: { readonly key: string; readonly value: string };
}

/** `envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`: over the bucket → 429. */
export interface LocalRateLimitConfig {
  readonly '@type': typeof LOCAL_RATE_LIMIT_FILTER_TYPE;
  readonly stat_prefix: string;
  /** The whole pod's bucket; each request also takes a token of its client's descriptor. */
  readonly token_bucket: TokenBucket;
  /** One wildcard descriptor: a bucket per `remote_address` value. */
  readonly descriptors: readonly {
    readonly entries: readonly { readonly key: string }[];
    readonly token_bucket: TokenBucket;
  }[];
  readonly rate_limits: readonly {
    readonly actions: readonly { readonly remote_address: Record<string, never> }[];
  }[];
  readonly max_dynamic_descriptors: number;
  readonly always_consume_default_token_bucket: true;
  readonly filter_enabled: RuntimeFractionalPercent;
  readonly filter_enforced: RuntimeFractionalPercent;
  readonly response_headers_to_add: readonly HeaderValueOption[];
}

/** `envoy.extensions.filters.http.ratelimit.v3.RateLimit`: asks the ratelimit service over gRPC. */
export interface RateLimitConfig {
  readonly '@type': typeof RATE_LIMIT_FILTER_TYPE;
  readonly domain: string;
  readonly failure_mode_deny: boolean;
  readonly timeout: string;
  readonly enable_x_ratelimit_headers: 'DRAFT_VERSION_03';
  readonly rate_limit_service: {
    readonly grpc_service: { readonly envoy_grpc: { readonly cluster_name: string } };
    readonly transport_api_version: 'V3';
  };
}

/** One `rate_limits` action of a virtual host: which descriptor entry a request produces. */
export type RateLimitAction =
  | { readonly remote_address: Record<string, never> }
  | { readonly request_headers: { readonly header_name: string; readonly descriptor_key: string } };

/** A virtual host's `rate_limits` entry. */
export interface VirtualHostRateLimit {
  readonly actions: readonly RateLimitAction[];
}

/** Options of `localRateLimitConfig`. */
export interface LocalRateLimitOptions {
  /** Tokens added per second, per client address. @default 10 */
  readonly requestsPerSecond?: number;
  /** The bucket size: how many requests a client's burst may use at once. @default 20 */
  readonly burst?: number;
  /**
   * The whole gateway pod's bucket, shared by every client: a safety valve above which even
   * clients under their own limit get 429. @default - 50 × `requestsPerSecond`, burst 50 × `burst`
   */
  readonly gatewayRequestsPerSecond?: number;
  /**
   * How many client addresses get a bucket of their own at once (an LRU; a client evicted
   * starts a full bucket again). @default 10000
   */
  readonly trackedClients?: number;
  /** @default 'gateway_local_rate_limit' */
  readonly statPrefix?: string;
}

/** Options of `rateLimitConfig`. */
export interface RateLimitFilterOptions {
  /** The ratelimit service's domain (its config's `domain`). */
  readonly domain: string;
  /** The Envoy cluster of the ratelimit service's gRPC port. */
  readonly clusterName: string;
  /**
   * Refuse requests (500) when the ratelimit service cannot be reached, instead of
   * letting them through unlimited.
   * @default false
   */
  readonly failureModeDeny?: boolean;
  /** @default '0.25s' */
  readonly timeout?: string;
}

/** The buffer filter's config; throws unless `maxRequestBytes` is a positive integer. */
export function bufferFilterConfig(
  maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES,
  owner = 'body limit',
): BufferFilterConfig {
  if (!Number.isInteger(maxRequestBytes) || maxRequestBytes <= 0) {
    throw new Error(
      `${owner}: 'maxRequestBytes' (${String(maxRequestBytes)}) must be a positive integer`,
    );
  }
  return { '@type': BUFFER_FILTER_TYPE, max_request_bytes: maxRequestBytes };
}

/**
 * The local token buckets: per client address (`remote_address`, the address Envoy trusts:
 * see the gateway's `numTrustedProxies`), `burst` requests at once refilled by
 * `requestsPerSecond` each second, so one client at its limit leaves the others served; and
 * the whole pod's bucket above them. Throws on a rate below 1 or a burst below the rate.
 */
export function localRateLimitConfig(
  options: LocalRateLimitOptions = {},
  owner = 'local rate limit',
): LocalRateLimitConfig {
  const rate = options.requestsPerSecond ?? 10;
  const burst = options.burst ?? 20;
  if (!Number.isInteger(rate) || rate < 1) {
    throw new Error(
      `${owner}: 'localRateLimit.requestsPerSecond' (${String(rate)}) must be an integer >= 1`,
    );
  }
  if (!Number.isInteger(burst) || burst < rate) {
    throw new Error(
      `${owner}: 'localRateLimit.burst' (${String(burst)}) must be an integer >= 'requestsPerSecond' (${String(rate)})`,
    );
  }
  const gatewayRate = options.gatewayRequestsPerSecond ?? 50 * rate;
  if (!Number.isInteger(gatewayRate) || gatewayRate < rate) {
    throw new Error(
      `${owner}: 'localRateLimit.gatewayRequestsPerSecond' (${String(gatewayRate)}) must be an integer >= 'requestsPerSecond' (${String(rate)})`,
    );
  }
  const tracked = options.trackedClients ?? 10_000;
  if (!Number.isInteger(tracked) || tracked < 1) {
    throw new Error(
      `${owner}: 'localRateLimit.trackedClients' (${String(tracked)}) must be an integer >= 1`,
    );
  }
  const statPrefix = options.statPrefix ?? 'gateway_local_rate_limit';
  const full = (key: string): RuntimeFractionalPercent => ({
    runtime_key: `${statPrefix}_${key}`,
    default_value: { numerator: 100, denominator: 'HUNDRED' },
  });
  const gatewayBurst = Math.max(gatewayRate, Math.ceil((burst * gatewayRate) / rate));
  return {
    '@type': LOCAL_RATE_LIMIT_FILTER_TYPE,
    stat_prefix: statPrefix,
    token_bucket: { max_tokens: gatewayBurst, tokens_per_fill: gatewayRate, fill_interval: '1s' },
    descriptors: [
      {
        entries: [{ key: 'remote_address' }],
        token_bucket: { max_tokens: burst, tokens_per_fill: rate, fill_interval: '1s' },
      },
    ],
    rate_limits: [{ actions: [{ remote_address: {} }] }],
    max_dynamic_descriptors: tracked,
    always_consume_default_token_bucket: true,
    filter_enabled: full('enabled'),
    filter_enforced: full('enforced'),
    response_headers_to_add: [
      {
        append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
        header: { key: LOCAL_RATE_LIMIT_HEADER, value: 'true' },
      },
    ],
  };
}

/** The global rate limit filter's config. */
export function rateLimitConfig(options: RateLimitFilterOptions): RateLimitConfig {
  if (options.domain.trim() === '') {
    throw new Error(`global rate limit: 'domain' ('${options.domain}') must not be empty`);
  }
  return {
    '@type': RATE_LIMIT_FILTER_TYPE,
    domain: options.domain,
    failure_mode_deny: options.failureModeDeny ?? false,
    timeout: options.timeout ?? '0.25s',
    enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
    rate_limit_service: {
      grpc_service: { envoy_grpc: { cluster_name: options.clusterName } },
      transport_api_version: 'V3',
    },
  };
}

/** The descriptor key the path action produces (and the ratelimit config matches). */
export const PATH_DESCRIPTOR_KEY = 'PATH';

/**
 * The virtual host's `rate_limits`: one entry per key, each producing one descriptor
 * (`remote_address` = the client address Envoy trusts, `PATH` = the request path).
 */
export function virtualHostRateLimits(keys: {
  readonly byClient: boolean;
  readonly byPath: boolean;
}): VirtualHostRateLimit[] {
  return [
    ...(keys.byClient ? [{ actions: [{ remote_address: {} }] }] : []),
    ...(keys.byPath
      ? [
          {
            actions: [
              { request_headers: { header_name: ':path', descriptor_key: PATH_DESCRIPTOR_KEY } },
            ],
          },
        ]
      : []),
  ];
}
