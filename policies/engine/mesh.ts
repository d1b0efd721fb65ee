/**
 * The mesh-wide settings a decision depends on (Istio's MeshConfig), and the Istio whose
 * semantics the engine follows.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { isRecord, PATH_NORMALIZATIONS, type PathNormalization } from './model.js';

/**
 * The Istio release the engine's semantics follow, and the exact source they were checked
 * against: the module the integration tier builds istiod from and runs the differential
 * harness with (`ISTIO_VERSION` in scripts/versions.env; a unit test keeps them equal).
 */
export const ISTIO_SEMANTICS = {
  release: '1.31',
  module: 'istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad',
} as const;

export interface MeshSettings {
  /** `meshConfig.pathNormalization.normalization`; Istio's own default is BASE. */
  readonly pathNormalization: PathNormalization;
  /** `meshConfig.trustDomain`: peer certificates outside it fail the TLS handshake. */
  readonly trustDomain: string;
  /** `meshConfig.trustDomainAliases`: accepted beside `trustDomain`. */
  readonly trustDomainAliases: readonly string[];
}

/** What a MeshConfig that sets nothing means to istiod. */
export const ISTIO_DEFAULT_MESH: MeshSettings = {
  pathNormalization: 'BASE',
  trustDomain: 'cluster.local',
  trustDomainAliases: [],
};

/**
 * The mesh meshward installs (scripts/istio/mesh.yaml; a unit test keeps them equal): the
 * engine's default, so `decide` answers for the mesh the project's own manifests run in.
 */
export const INSTALLED_MESH: MeshSettings = {
  ...ISTIO_DEFAULT_MESH,
  pathNormalization: 'DECODE_AND_MERGE_SLASHES',
};

/**
 * The settings of a mesh config file: an IstioOperator (its `spec.meshConfig`) or a bare
 * MeshConfig. Unset fields take Istio's defaults, not meshward's.
 */
export function meshSettingsOf(text: string, file: string): MeshSettings {
  const docs = parseAllDocuments(text);
  const values: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      throw new Error(`${file}: not YAML: ${doc.errors[0]?.message ?? ''}`);
    }
    values.push(doc.toJS());
  }
  const operator = values.find((v) => isRecord(v) && v.kind === 'IstioOperator');
  const mesh: unknown = isRecord(operator)
    ? isRecord(operator.spec)
      ? operator.spec.meshConfig
      : undefined
    : values.find(isRecord);
  if (mesh === undefined) return ISTIO_DEFAULT_MESH;
  if (!isRecord(mesh)) throw new Error(`${file}: meshConfig must be an object`);
  const pn = mesh.pathNormalization;
  let pathNormalization = ISTIO_DEFAULT_MESH.pathNormalization;
  if (pn !== undefined) {
    const mode = isRecord(pn) ? pn.normalization : undefined;
    if (mode !== undefined && !PATH_NORMALIZATIONS.includes(mode as PathNormalization)) {
      throw new Error(
        `${file}: pathNormalization.normalization ${JSON.stringify(mode)} is not one of ${PATH_NORMALIZATIONS.join(', ')}`,
      );
    }
    if (mode !== undefined) pathNormalization = mode as PathNormalization;
  }
  const td = mesh.trustDomain;
  if (td !== undefined && (typeof td !== 'string' || td === '')) {
    throw new Error(`${file}: trustDomain must be a non-empty string, got ${JSON.stringify(td)}`);
  }
  const aliases = mesh.trustDomainAliases;
  if (
    aliases !== undefined &&
    !(Array.isArray(aliases) && aliases.every((a) => typeof a === 'string'))
  ) {
    throw new Error(`${file}: trustDomainAliases must be a list of strings`);
  }
  return {
    pathNormalization,
    trustDomain: td ?? ISTIO_DEFAULT_MESH.trustDomain,
    trustDomainAliases: aliases ?? [],
  };
}

/** `meshSettingsOf` a file. */
export function readMeshSettings(file: string): MeshSettings {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--mesh-config '${file}': ${(e as Error).message}`);
  }
  return meshSettingsOf(text, file);
}
