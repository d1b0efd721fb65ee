/**
 * The real `ClusterReader`: `@kubernetes/client-node` against a kubeconfig context.
 * In-cluster JWKS URIs (`http://<svc>.<ns>.svc[.cluster.local][:port]/...`) are fetched through
 * the API server's service proxy, since the doctor runs outside the cluster.
 */
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
} from '@kubernetes/client-node';
import {
  type ClusterReader,
  DoctorConfigError,
  type IstioKind,
  type JwksProbe,
  type KubeObject,
} from './model.js';

export interface KubeReaderOptions {
  /** @default - $KUBECONFIG or ~/.kube/config */
  readonly kubeconfig?: string;
  /** @default - the kubeconfig's current context */
  readonly context?: string;
}

const IN_CLUSTER_HOST = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?$/;

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer within ${String(timeoutMs)} ms`));
    }, timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

function isJwks(body: unknown): boolean {
  const parsed: unknown = typeof body === 'string' ? JSON.parse(body) : body;
  return (
    parsed !== null &&
    typeof parsed === 'object' &&
    Array.isArray((parsed as { keys?: unknown }).keys)
  );
}

/** A typed client-node model as the plain object shape the checks read. */
function plain(
  item: { metadata?: unknown; spec?: unknown; status?: unknown },
  apiVersion: string,
  kind: string,
): KubeObject {
  return {
    apiVersion,
    kind,
    metadata: item.metadata,
    spec: item.spec,
    status: item.status,
  } as KubeObject;
}

const describe = (error: unknown) =>
  error instanceof ApiException
    ? `HTTP ${String(error.code)}`
    : error instanceof Error
      ? error.message
      : String(error);

export class KubeReader implements ClusterReader {
  public readonly target: string;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly custom: CustomObjectsApi;

  public constructor(options: KubeReaderOptions = {}) {
    const config = new KubeConfig();
    try {
      if (options.kubeconfig === undefined) config.loadFromDefault();
      else config.loadFromFile(options.kubeconfig);
    } catch (error) {
      throw new DoctorConfigError(
        `cannot load kubeconfig '${options.kubeconfig ?? '(default)'}': ${describe(error)}`,
      );
    }
    if (options.context !== undefined) {
      if (config.getContextObject(options.context) === null) {
        const known = config.getContexts().map((context) => context.name);
        throw new DoctorConfigError(
          `kube context '${options.context}' is not in the kubeconfig (known: ${known.join(', ') || 'none'})`,
        );
      }
      config.setCurrentContext(options.context);
    }
    const cluster = config.getCurrentCluster();
    if (cluster === null) {
      throw new DoctorConfigError(
        `kubeconfig '${options.kubeconfig ?? '(default)'}' has no current context with a cluster: pass --context`,
      );
    }
    this.target = `context '${config.getCurrentContext()}' (${cluster.server})`;
    this.core = config.makeApiClient(CoreV1Api);
    this.apps = config.makeApiClient(AppsV1Api);
    this.custom = config.makeApiClient(CustomObjectsApi);
  }

  private async call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (error instanceof ApiException && (error.code === 401 || error.code === 403)) {
        throw new DoctorConfigError(
          `the API server at ${this.target} refused to ${what} (HTTP ${String(error.code)}): check the credentials of the context`,
        );
      }
      if (error instanceof ApiException) throw error;
      throw new DoctorConfigError(
        `cannot reach the API server at ${this.target} to ${what}: ${describe(error)}`,
      );
    }
  }

  public async listNamespaces(): Promise<readonly KubeObject[]> {
    const list = await this.call('list namespaces', () => this.core.listNamespace());
    return list.items.map((item) => plain(item, 'v1', 'Namespace'));
  }

  public async listPods(namespace: string): Promise<readonly KubeObject[]> {
    const list = await this.call(`list pods in '${namespace}'`, () =>
      this.core.listNamespacedPod({ namespace }),
    );
    return list.items.map((item) => plain(item, 'v1', 'Pod'));
  }

  public async listDeployments(namespace: string): Promise<readonly KubeObject[]> {
    const list = await this.call(`list deployments in '${namespace}'`, () =>
      this.apps.listNamespacedDeployment({ namespace }),
    );
    return list.items.map((item) => plain(item, 'apps/v1', 'Deployment'));
  }

  public async listIstio(kind: IstioKind): Promise<readonly KubeObject[] | undefined> {
    try {
      const list = (await this.call(`list ${kind.plural}.${kind.group}`, () =>
        this.custom.listClusterCustomObject({
          group: kind.group,
          version: kind.version,
          plural: kind.plural,
        }),
      )) as { items?: KubeObject[] };
      return list.items ?? [];
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw error;
    }
  }

  public async probeJwks(uri: string, timeoutMs: number): Promise<JwksProbe> {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      return { ok: false, reason: 'not a URL' };
    }
    try {
      const inCluster = IN_CLUSTER_HOST.exec(url.hostname);
      let body: unknown;
      if (inCluster) {
        const [, service = '', namespace = ''] = inCluster;
        const port = url.port || (url.protocol === 'https:' ? '443' : '80');
        const scheme = url.protocol === 'https:' ? 'https:' : '';
        body = await withTimeout(
          this.core.connectGetNamespacedServiceProxyWithPath({
            name: `${scheme}${service}:${port}`,
            namespace,
            path: url.pathname.replace(/^\//, '') + url.search,
          }),
          timeoutMs,
        );
      } else {
        const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        if (!response.ok) return { ok: false, reason: `HTTP ${String(response.status)}` };
        body = await response.text();
      }
      return isJwks(body) ? { ok: true } : { ok: false, reason: 'the answer is not a JWKS' };
    } catch (error) {
      return { ok: false, reason: describe(error) };
    }
  }
}
