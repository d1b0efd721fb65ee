/**
 * `runDoctor`: reads the cluster through a `ClusterReader`, loads dist/, runs every check.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
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
  if (options.skipJwks !== true) {
    const timeoutMs = options.jwksTimeoutMs ?? 3000;
    for (const [uri, users] of jwksUris(snapshot)) {
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
  return { target: reader.target, meshNamespaces, findings };
}
