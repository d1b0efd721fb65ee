import { k8s } from 'cdk8s-plus-28';

/** Non-root numeric user and group every meshward container runs as. */
export const DEFAULT_USER_ID = 10001;

/**
 * A plain environment variable, a key of a Secret (never a secret value in the manifests), or
 * a field of the pod through the downward API (`metadata.annotations['meshward.io/routes']`).
 */
export type EnvValue =
  string | { readonly secretName: string; readonly key: string } | { readonly fieldPath: string };

/** Resource requests/limits small enough for a kind or minikube node. */
export interface WorkloadResources {
  /** @default '50m' */
  readonly cpuRequest?: string;
  /** @default '64Mi' */
  readonly memoryRequest?: string;
  /** @default '256Mi' */
  readonly memoryLimit?: string;
}

/** What a hardened container needs to know. @internal */
export interface ContainerOptions {
  readonly name: string;
  readonly image: string;
  readonly env: Readonly<Record<string, EnvValue>>;
  readonly resources: WorkloadResources;
  readonly ports?: k8s.ContainerPort[];
  readonly probes?: Pick<k8s.Container, 'readinessProbe' | 'livenessProbe' | 'startupProbe'>;
  readonly userId: number;
}

/**
 * A pod spec that passes the `restricted` Pod Security Standard: numeric non-root
 * user, no privilege escalation, every capability dropped, seccomp RuntimeDefault,
 * read-only root filesystem with a writable `/tmp` emptyDir, and no Kubernetes API
 * token mounted (Istio mounts its own `istio-token`). @internal
 */
export function hardenedPodSpec(
  serviceAccountName: string,
  container: ContainerOptions,
  extra: Partial<k8s.PodSpec> = {},
): k8s.PodSpec {
  return {
    serviceAccountName,
    automountServiceAccountToken: false,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: container.userId,
      runAsGroup: container.userId,
      fsGroup: container.userId,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [
      {
        name: container.name,
        image: container.image,
        imagePullPolicy: 'IfNotPresent',
        ...(container.ports ? { ports: container.ports } : {}),
        env: renderEnv(container.env),
        resources: {
          requests: {
            cpu: k8s.Quantity.fromString(container.resources.cpuRequest ?? '50m'),
            memory: k8s.Quantity.fromString(container.resources.memoryRequest ?? '64Mi'),
          },
          limits: { memory: k8s.Quantity.fromString(container.resources.memoryLimit ?? '256Mi') },
        },
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          runAsUser: container.userId,
          runAsGroup: container.userId,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        },
        ...container.probes,
        volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
      },
    ],
    volumes: [{ name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } }],
    ...extra,
  };
}

/** Sorted, so the manifests do not change when the intent lists variables in another order. */
function renderEnv(env: Readonly<Record<string, EnvValue>>): k8s.EnvVar[] {
  return Object.keys(env)
    .sort()
    .map((name) => {
      const value = env[name];
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new Error(`env name '${name}' is not a valid variable name`);
      if (typeof value === 'string') return { name, value };
      if ('fieldPath' in value)
        return { name, valueFrom: { fieldRef: { fieldPath: value.fieldPath } } };
      return { name, valueFrom: { secretKeyRef: { name: value.secretName, key: value.key } } };
    });
}

/**
 * The `version` label for a pod running `image`: its tag (`redis:7.4.5-alpine` → `7.4.5-alpine`),
 * `latest` when it has none. Istio reads `app` and `version` for telemetry; `istioctl validate`
 * warns about a Deployment without them.
 */
export function imageVersionLabel(image: string): string {
  const name = image.split('@')[0] ?? image;
  const lastPart = name.slice(name.lastIndexOf('/') + 1);
  const colon = lastPart.indexOf(':');
  const tag = colon < 0 ? 'latest' : lastPart.slice(colon + 1);
  return tag.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 63);
}
