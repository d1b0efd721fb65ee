import { k8s } from 'cdk8s-plus-28';

/** Non-root numeric user and group every meshward container runs as. */
export const DEFAULT_USER_ID = 10001;

/**
 * A plain environment variable, a key of a Secret (never a secret value in the manifests), or
 * a field of the pod through the downward API (`metadata.annotations['meshward.io/routes']`).
 *
 * A Secret key with `file: true` never enters the environment: the key is mounted read-only at
 * `SECRET_FILES_DIR/<secretName>/<key>` and the variable holds that path (name it `..._FILE`,
 * the convention programs read). Prefer it wherever the program reads files: environment
 * variables reach every child process, crash reports and `/proc/<pid>/environ`.
 */
export type EnvValue =
  | string
  | { readonly secretName: string; readonly key: string; readonly file?: boolean }
  | { readonly fieldPath: string };

/** Where `file: true` Secret keys are mounted, one folder per Secret. */
export const SECRET_FILES_DIR = '/var/run/secrets/meshward';

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
  const files = secretFiles(container.env);
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
        image: pinnedImage(`container '${container.name}'`, container.image),
        imagePullPolicy: 'IfNotPresent',
        ...(container.ports ? { ports: container.ports } : {}),
        env: renderEnv(`container '${container.name}'`, container.env),
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
        volumeMounts: [
          { name: 'tmp', mountPath: '/tmp' },
          ...files.map((f) => ({ name: f.volume, mountPath: f.dir, readOnly: true })),
        ],
      },
    ],
    volumes: [
      { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
      ...files.map((f) => ({
        name: f.volume,
        // Group-readable: the pod's fsGroup is the container's user.
        secret: {
          secretName: f.secretName,
          items: f.keys.map((key) => ({ key, path: key })),
          defaultMode: 0o440,
        },
      })),
    ],
    ...extra,
  };
}

/** The Secrets whose keys the env mounts as files (`file: true`), in a stable order. */
function secretFiles(
  env: Readonly<Record<string, EnvValue>>,
): { secretName: string; keys: string[]; volume: string; dir: string }[] {
  const bySecret = new Map<string, Set<string>>();
  for (const value of Object.values(env)) {
    if (typeof value === 'object' && 'secretName' in value && value.file === true) {
      bySecret.set(value.secretName, (bySecret.get(value.secretName) ?? new Set()).add(value.key));
    }
  }
  return [...bySecret.keys()].sort().map((secretName, i) => ({
    secretName,
    keys: [...(bySecret.get(secretName) ?? [])].sort(),
    volume: `secret-files-${String(i)}`,
    dir: `${SECRET_FILES_DIR}/${secretName}`,
  }));
}

/** Sorted, so the manifests do not change when the intent lists variables in another order. */
function pinnedImage(where: string, image: string): string {
  checkImage(where, 'image', image);
  return image;
}

/** Env names that hold a credential: their value must come from a Secret, never a literal. */
const SECRET_ENV_NAME =
  /(^|_)(SECRET|PASSWORD|PASSWD|PASSPHRASE|TOKEN|CREDENTIALS?|API_?KEY|PRIVATE_KEY)$/i;

/**
 * Refuses an image that is not pinned: it needs a tag other than `latest` or a digest
 * (`name@sha256:<64 hex>`, which pins the bytes; `name:tag@sha256:...` is fine too).
 */
export function checkImage(where: string, field: string, image: string): void {
  // [registry[:port]/]path[:tag][@sha256:digest]: a port only before the first slash
  const m =
    /^((?:[^\s:@/]+(?::\d+)?\/)?[^\s:@/]+(?:\/[^\s:@/]+)*)(?::([\w][\w.-]{0,127}))?(@sha256:[a-f0-9]{64})?$/.exec(
      image,
    );
  if (!m) {
    throw new Error(
      `${where}: '${field}' ('${image}') is not an image reference (name[:tag][@sha256:<64 hex>])`,
    );
  }
  const tag = m.at(2);
  const digest = m.at(3);
  if (digest === undefined && (tag === undefined || tag === 'latest')) {
    throw new Error(
      `${where}: '${field}' ('${image}') must be pinned to a tag or digest, not ${tag === undefined ? 'untagged' : 'latest'}`,
    );
  }
}

function renderEnv(where: string, env: Readonly<Record<string, EnvValue>>): k8s.EnvVar[] {
  return Object.keys(env)
    .sort()
    .map((name) => {
      const value = env[name];
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new Error(`${where}: env name '${name}' is not a valid variable name`);
      if (typeof value === 'string') {
        if (SECRET_ENV_NAME.test(name)) {
          throw new Error(
            `${where}: env '${name}' holds a credential: reference a Secret ({ secretName, key }), never a literal value (it would be written to dist/)`,
          );
        }
        return { name, value };
      }
      if ('fieldPath' in value)
        return { name, valueFrom: { fieldRef: { fieldPath: value.fieldPath } } };
      if (value.file === true)
        return { name, value: `${SECRET_FILES_DIR}/${value.secretName}/${value.key}` };
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
