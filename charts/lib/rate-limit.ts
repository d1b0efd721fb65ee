import { createHash } from 'node:crypto';

import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { stringify } from 'yaml';

import {
  AuthorizationPolicy,
  AuthorizationPolicySpecAction,
} from '../imports/security.istio.io.js';

import { type EgressOptions, validateEgress, WorkloadEgress } from './egress.js';
import { PATH_DESCRIPTOR_KEY } from './envoy-filters.js';
import { type IMeshIdentity, MeshIdentity, principalOf } from './identity.js';
import { MeshNamespace } from './mesh-namespace.js';
import { networkPeer } from './network.js';
import { validateName } from './validation.js';
import { hardenedPodSpec, imageVersionLabel } from './workload.js';

/** The Envoy ratelimit service image, pinned to the commit in scripts/versions.env (RATELIMIT_VERSION). */
export const RATELIMIT_IMAGE = 'docker.io/envoyproxy/ratelimit:3fb70258';
/** Redis for the ratelimit counters (the official image runs as uid 999). */
export const REDIS_IMAGE = 'docker.io/library/redis:7.4.5-alpine';
export const RATELIMIT_GRPC_PORT = 8081;
export const RATELIMIT_HTTP_PORT = 8080;
export const REDIS_PORT = 6379;
/** Where the service reads its config: `RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/config/`. */
export const RATELIMIT_CONFIG_DIR = '/data/ratelimit/config';

/** The pod annotation carrying a digest of the ratelimit config (first 16 hex digits of its SHA-256). */
export const CONFIG_HASH_ANNOTATION = 'meshward.io/config-hash';

export type RateLimitUnit = 'second' | 'minute' | 'hour' | 'day';

/** A quota: `requestsPerUnit` requests per `unit`. */
export interface RateLimitQuota {
  readonly requestsPerUnit: number;
  /** @default 'second' */
  readonly unit?: RateLimitUnit;
}

/** The ratelimit service's YAML config, as typed objects. */
export interface RateLimitServiceConfig {
  readonly domain: string;
  readonly descriptors: readonly {
    readonly key: string;
    readonly value?: string;
    readonly rate_limit: { readonly unit: RateLimitUnit; readonly requests_per_unit: number };
  }[];
}

/** What the global rate limit counts. At least one of `perClient`, `perPath`. */
export interface GlobalRateLimitOptions {
  /** The limit domain shared by the Envoy filter and the service. @default 'meshward-gateway' */
  readonly domain?: string;
  /** Per client address (`remote_address`). @default - none */
  readonly perClient?: RateLimitQuota;
  /** Per distinct request path (`:path`). @default - none */
  readonly perPath?: RateLimitQuota;
  /** Refuse requests when the service is down (fail closed). @default false */
  readonly failureModeDeny?: boolean;
}

/**
 * The config file of the Envoy ratelimit service. Throws on a quota below 1 or when
 * nothing is limited.
 * @see https://github.com/envoyproxy/ratelimit#configuration
 */
export function rateLimitServiceConfig(options: GlobalRateLimitOptions): RateLimitServiceConfig {
  const quota = (name: string, q: RateLimitQuota) => {
    if (!Number.isInteger(q.requestsPerUnit) || q.requestsPerUnit < 1) {
      throw new Error(
        `global rate limit: '${name}.requestsPerUnit' (${String(q.requestsPerUnit)}) must be an integer >= 1`,
      );
    }
    return { unit: q.unit ?? 'second', requests_per_unit: q.requestsPerUnit };
  };
  if (!options.perClient && !options.perPath) {
    throw new Error(`global rate limit: set 'perClient' and/or 'perPath' (got neither)`);
  }
  return {
    domain: options.domain ?? 'meshward-gateway',
    descriptors: [
      ...(options.perClient
        ? [{ key: 'remote_address', rate_limit: quota('perClient', options.perClient) }]
        : []),
      ...(options.perPath
        ? [{ key: PATH_DESCRIPTOR_KEY, rate_limit: quota('perPath', options.perPath) }]
        : []),
    ],
  };
}

export interface RateLimitServiceProps extends GlobalRateLimitOptions {
  /** @default 'ratelimit' */
  readonly namespace?: string;
  /** The only identity allowed to call the service. @default MeshIdentity.ingressGateway() */
  readonly gatewayIdentity?: IMeshIdentity;
  /** @default RATELIMIT_IMAGE */
  readonly image?: string;
  /** @default REDIS_IMAGE */
  readonly redisImage?: string;
  /** What the service's and Redis's proxies may reach. @default - only what each calls (EgressOptions) */
  readonly egress?: EgressOptions;
}

/**
 * The Envoy global ratelimit service and its Redis, in their own mesh namespace
 * (STRICT mTLS, default deny): the gateway may call the service's gRPC port, the
 * service may call Redis, nobody else reaches either.
 * @see https://github.com/envoyproxy/ratelimit
 */
export class RateLimitService extends Construct {
  public readonly namespace: string;
  public readonly domain: string;
  public readonly config: RateLimitServiceConfig;
  public readonly failureModeDeny: boolean;
  public readonly byClient: boolean;
  public readonly byPath: boolean;
  /** The Envoy cluster of the gRPC port, as the gateway's filter names it. */
  public readonly clusterName: string;
  public readonly principal: string;

  constructor(scope: Construct, id: string, props: RateLimitServiceProps) {
    super(scope, id);
    const ns = validateName(
      `RateLimitService '${id}'`,
      'namespace',
      props.namespace ?? 'ratelimit',
    );
    this.namespace = ns;
    this.config = rateLimitServiceConfig(props);
    this.domain = this.config.domain;
    validateName(`RateLimitService '${id}'`, 'domain', this.domain);
    this.failureModeDeny = props.failureModeDeny ?? false;
    this.byClient = props.perClient !== undefined;
    this.byPath = props.perPath !== undefined;
    this.clusterName = `outbound|${String(RATELIMIT_GRPC_PORT)}||ratelimit.${ns}.svc.cluster.local`;
    this.principal = principalOf(ns, 'ratelimit');
    const gateway = props.gatewayIdentity ?? MeshIdentity.ingressGateway();

    new MeshNamespace(this, 'Namespace', { name: ns });

    const labels = { app: 'ratelimit' };
    const configYaml = stringify(this.config);
    const configMap = new k8s.KubeConfigMap(this, 'Config', {
      metadata: { name: 'ratelimit-config', namespace: ns, labels },
      data: { 'config.yaml': configYaml },
    });
    const sa = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: { name: 'ratelimit', namespace: ns, labels },
      automountServiceAccountToken: false,
    });
    const image = props.image ?? RATELIMIT_IMAGE;
    const spec = hardenedPodSpec('ratelimit', {
      name: 'ratelimit',
      image,
      userId: 65534,
      resources: {},
      env: {
        USE_STATSD: 'false',
        LOG_LEVEL: 'info',
        REDIS_SOCKET_TYPE: 'tcp',
        REDIS_URL: `redis.${ns}:${String(REDIS_PORT)}`,
        RUNTIME_ROOT: '/data',
        RUNTIME_SUBDIRECTORY: 'ratelimit',
        RUNTIME_WATCH_ROOT: 'false',
        GRPC_PORT: String(RATELIMIT_GRPC_PORT),
        PORT: String(RATELIMIT_HTTP_PORT),
      },
      ports: [
        { name: 'grpc', containerPort: RATELIMIT_GRPC_PORT },
        { name: 'http', containerPort: RATELIMIT_HTTP_PORT },
      ],
      probes: {
        readinessProbe: {
          httpGet: { path: '/healthcheck', port: k8s.IntOrString.fromNumber(RATELIMIT_HTTP_PORT) },
        },
      },
    });
    const deployment = new k8s.KubeDeployment(this, 'Deployment', {
      metadata: { name: 'ratelimit', namespace: ns, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels: { ...labels, version: imageVersionLabel(image) },
            // A config change rolls the pods (the service reads its config at start).
            annotations: {
              [CONFIG_HASH_ANNOTATION]: sha256(configYaml),
            },
          },
          spec: withVolume(
            spec,
            'config',
            { configMap: { name: configMap.name } },
            RATELIMIT_CONFIG_DIR,
            {
              command: ['/bin/ratelimit'],
            },
          ),
        },
      },
    });
    ApiObject.of(deployment).addDependency(sa);
    new k8s.KubeService(this, 'Service', {
      metadata: { name: 'ratelimit', namespace: ns, labels },
      spec: {
        selector: labels,
        ports: [
          {
            name: 'grpc',
            port: RATELIMIT_GRPC_PORT,
            targetPort: k8s.IntOrString.fromNumber(RATELIMIT_GRPC_PORT),
            appProtocol: 'grpc',
          },
          {
            name: 'http',
            port: RATELIMIT_HTTP_PORT,
            targetPort: k8s.IntOrString.fromNumber(RATELIMIT_HTTP_PORT),
          },
        ],
      },
    });
    new AuthorizationPolicy(this, 'Access', {
      metadata: { name: 'ratelimit', namespace: ns, labels },
      spec: {
        selector: { matchLabels: labels },
        action: AuthorizationPolicySpecAction.ALLOW,
        rules: [
          {
            from: [{ source: { principals: [gateway.principal] } }],
            to: [{ operation: { ports: [String(RATELIMIT_GRPC_PORT)] } }],
          },
        ],
      },
    });

    // The gateway's pods alone may open the gRPC port (the namespace denies the rest).
    new k8s.KubeNetworkPolicy(this, 'NetworkPolicy', {
      metadata: { name: 'ratelimit', namespace: ns, labels },
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [networkPeer(gateway, gateway)],
            ports: [{ port: k8s.IntOrString.fromNumber(RATELIMIT_GRPC_PORT), protocol: 'TCP' }],
          },
        ],
      },
    });

    const egress = validateEgress(`RateLimitService '${id}'`, props.egress);
    new WorkloadEgress(this, 'Egress', {
      namespace: ns,
      name: 'ratelimit',
      workload: deployment,
      options: egress,
    });
    this.addRedis(ns, props.redisImage ?? REDIS_IMAGE, egress);
  }

  private addRedis(ns: string, image: string, egress: EgressOptions): void {
    const labels = { app: 'redis' };
    const sa = new k8s.KubeServiceAccount(this, 'RedisServiceAccount', {
      metadata: { name: 'redis', namespace: ns, labels },
      automountServiceAccountToken: false,
    });
    const spec = hardenedPodSpec('redis', {
      name: 'redis',
      image,
      userId: 999,
      resources: {},
      env: {},
      ports: [{ name: 'tcp-redis', containerPort: REDIS_PORT }],
      probes: {
        readinessProbe: { tcpSocket: { port: k8s.IntOrString.fromNumber(REDIS_PORT) } },
      },
    });
    const deployment = new k8s.KubeDeployment(this, 'RedisDeployment', {
      metadata: { name: 'redis', namespace: ns, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels: { ...labels, version: imageVersionLabel(image) } },
          // Counters only: no persistence, nothing written outside /data.
          spec: withVolume(spec, 'data', { emptyDir: {} }, '/data', {
            args: ['--save', '', '--appendonly', 'no'],
          }),
        },
      },
    });
    ApiObject.of(deployment).addDependency(sa);
    new WorkloadEgress(this, 'RedisEgress', {
      namespace: ns,
      name: 'redis',
      workload: deployment,
      options: egress,
    });
    new k8s.KubeService(this, 'RedisService', {
      metadata: { name: 'redis', namespace: ns, labels },
      spec: {
        selector: labels,
        ports: [
          {
            name: 'tcp-redis',
            port: REDIS_PORT,
            targetPort: k8s.IntOrString.fromNumber(REDIS_PORT),
          },
        ],
      },
    });
    new k8s.KubeNetworkPolicy(this, 'RedisNetworkPolicy', {
      metadata: { name: 'redis', namespace: ns, labels },
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ podSelector: { matchLabels: { app: 'ratelimit' } } }],
            ports: [{ port: k8s.IntOrString.fromNumber(REDIS_PORT), protocol: 'TCP' }],
          },
        ],
      },
    });
    new AuthorizationPolicy(this, 'RedisAccess', {
      metadata: { name: 'redis', namespace: ns, labels },
      spec: {
        selector: { matchLabels: labels },
        action: AuthorizationPolicySpecAction.ALLOW,
        rules: [
          {
            from: [{ source: { principals: [this.principal] } }],
            to: [{ operation: { ports: [String(REDIS_PORT)] } }],
          },
        ],
      },
    });
  }
}

/** Adds a volume mounted in the (single) container, and container fields such as `command`. */
function withVolume(
  spec: k8s.PodSpec,
  name: string,
  source: Omit<k8s.Volume, 'name'>,
  mountPath: string,
  container: Partial<k8s.Container>,
): k8s.PodSpec {
  const [main] = spec.containers;
  return {
    ...spec,
    containers: [
      {
        ...main,
        ...container,
        volumeMounts: [
          ...(main.volumeMounts ?? []),
          { name, mountPath, readOnly: name === 'config' },
        ],
      },
    ],
    volumes: [...(spec.volumes ?? []), { name, ...source }],
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
