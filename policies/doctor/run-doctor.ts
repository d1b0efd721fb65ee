/**
 * `runDoctor`: reads the cluster through a `ClusterReader`, loads dist/, runs every check.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { type JwksFetch, jwksFetchMode } from '../engine/mesh.js';
import {
  type ClusterSnapshot,
  MESH_LABEL,
  checkDrift,
  checkNamespaceDefaults,
  checkSidecars,
  checkUnselectedWorkloads,
  jwksUris,
  objectRef,
} from './checks.js';
import {
  type ClusterReader,
  DoctorConfigError,
  type Finding,
  ISTIO_KINDS,
  type KubeObject,
} from './model.js';

/** A JWKS host that is a Service of the cluster (`<name>.<namespace>.svc[.cluster.local]`). */
const IN_CLUSTER_JWKS = /^[a-z0-9-]+\.[a-z0-9-]+\.svc(?:\.cluster\.local)?$/;

export interface DoctorOptions {
  readonly reader: ClusterReader;
  /** The synthesized manifests to compare with. @default - every `*.yaml` in `distDir` */
  readonly dist?: readonly KubeObject[];
  /** @default 'dist' (relative to the working directory) */
  readonly distDir?: string;
  /** Skip fetching the RequestAuthentication JWKS URIs. @default false */
  readonly skipJwks?: boolean;
  /** @default 3000 */
  readonly jwksTimeoutMs?: number;
  /** Istio's root namespace. @default 'istio-system' */
  readonly rootNamespace?: string;
}

export interface DoctorReport {
  readonly target: string;
  readonly meshNamespaces: readonly string[];
  readonly findings: readonly Finding[];
  /**
   * In-cluster JWKS URIs not probed: istiod runs with `PILOT_JWT_ENABLE_REMOTE_JWKS=envoy` (or
   * `hybrid`), so each proxy fetches them through its sidecar over mTLS, which a plaintext
   * probe through the API server cannot reproduce (STRICT refuses it). `meshward lint` MW015
   * checks offline that each verifying proxy may fetch its JWKS.
   */
  readonly jwksFetchedByProxies: readonly string[];
}

/** `PILOT_JWT_ENABLE_REMOTE_JWKS` of the running istiod (the Deployment's container env). */
async function istiodJwksFetch(reader: ClusterReader, root: string): Promise<JwksFetch> {
  const istiod = (await reader.listDeployments(root)).find((d) => d.metadata.name === 'istiod');
  const containers =
    (
      istiod?.spec as
        | { template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } }
        | undefined
    )?.template?.spec?.containers ?? [];
  const value = containers
    .flatMap((c) => c.env ?? [])
    .find((e) => e.name === 'PILOT_JWT_ENABLE_REMOTE_JWKS')?.value;
  return jwksFetchMode(value);
}

/** Every object in the `*.yaml` files of a folder. */
export function loadDist(distDir: string): KubeObject[] {
  let files: string[];
  try {
    files = readdirSync(distDir).filter((file) => file.endsWith('.yaml'));
  } catch (error) {
    throw new DoctorConfigError(
      `cannot read dist folder '${distDir}' (${(error as Error).message}): run 'npm run synth' first`,
    );
  }
  if (files.length === 0) {
    throw new DoctorConfigError(
      `dist folder '${distDir}' has no .yaml file: run 'npm run synth' first`,
    );
  }
  return files.sort().flatMap((file) =>
    parseAllDocuments(readFileSync(join(distDir, file), 'utf8'))
      .map((document) => document.toJS() as KubeObject | null)
      .filter((object): object is KubeObject => object !== null),
  );
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const { reader } = options;
  const dist = options.dist ?? loadDist(options.distDir ?? 'dist');
  const distKinds = new Set(dist.map((object) => object.kind));

  const namespaces = await reader.listNamespaces();
  const meshNamespaces = namespaces
    .filter((namespace) => namespace.metadata.labels?.[MESH_LABEL] === 'enabled')
    .map((namespace) => namespace.metadata.name)
    .sort();

  const istioObjects: KubeObject[] = [];
  const comparedKinds = new Set<string>();
  for (const kind of ISTIO_KINDS) {
    const objects = await reader.listIstio(kind);
    if (objects === undefined) {
      // The security kinds are the model itself; a networking kind matters when dist/ uses it.
      if (kind.group === 'security.istio.io' || distKinds.has(kind.kind)) {
        throw new DoctorConfigError(
          `the Istio CRD ${kind.plural}.${kind.group} is not installed on ${reader.target}: install Istio first (scripts/kind-up.sh or scripts/minikube-up.sh)`,
        );
      }
      continue;
    }
    comparedKinds.add(kind.kind);
    istioObjects.push(...objects.map((object) => ({ ...object, kind: kind.kind })));
  }

  const pods: KubeObject[] = [];
  const deployments: KubeObject[] = [];
  for (const namespace of meshNamespaces) {
    pods.push(...(await reader.listPods(namespace)).map((o) => ({ ...o, kind: 'Pod' })));
    deployments.push(
      ...(await reader.listDeployments(namespace)).map((o) => ({ ...o, kind: 'Deployment' })),
    );
  }

  const snapshot: ClusterSnapshot = {
    meshNamespaces,
    pods,
    deployments,
    istioObjects,
    rootNamespace: options.rootNamespace ?? 'istio-system',
  };
  const findings: Finding[] = [
    ...checkSidecars(snapshot),
    ...checkNamespaceDefaults(snapshot),
    ...checkUnselectedWorkloads(snapshot),
    ...checkDrift(snapshot, dist, comparedKinds),
  ];
  const jwksFetchedByProxies: string[] = [];
  if (options.skipJwks !== true) {
    const timeoutMs = options.jwksTimeoutMs ?? 3000;
    const fetch = await istiodJwksFetch(reader, snapshot.rootNamespace ?? 'istio-system');
    for (const [uri, users] of jwksUris(snapshot)) {
      if (fetch !== 'istiod' && IN_CLUSTER_JWKS.test(new URL(uri).hostname)) {
        jwksFetchedByProxies.push(uri);
        continue;
      }
      const probe = await reader.probeJwks(uri, timeoutMs);
      if (!probe.ok) {
        for (const ra of users) {
          findings.push({
            code: 'jwks-unreachable',
            namespace: ra.metadata.namespace ?? '',
            object: objectRef(ra),
            message: `JWKS '${uri}' is unreachable (${probe.reason}): every presented token is rejected with 401`,
          });
        }
      }
    }
  }
  return { target: reader.target, meshNamespaces, findings, jwksFetchedByProxies };
}
