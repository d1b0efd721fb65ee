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
  /**
   * Who fetches a RequestAuthentication's `jwksUri`: istiod's `PILOT_JWT_ENABLE_REMOTE_JWKS`
   * (an IstioOperator's `spec.values.pilot.env`). `istiod` (`false`, Istio's default): istiod
   * fetches and inlines the keys; `envoy`: each proxy fetches through its own outbound cluster
   * for the host, over mTLS where the host has a sidecar; `hybrid` (`true`): envoy for hosts
   * in the registry, istiod otherwise. Anything else is istiod (pkg/jwt/jwt.go).
   */
  readonly jwksFetch: JwksFetch;
  /**
   * `meshConfig.outboundTrafficPolicy.mode`: what a sidecar does with a host outside its
   * registry (or its Sidecar's egress) when the Sidecar does not say. Istio's default ALLOW_ANY.
   */
  readonly outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

export type JwksFetch = 'istiod' | 'envoy' | 'hybrid';

/** What a MeshConfig that sets nothing means to istiod. */
export const ISTIO_DEFAULT_MESH: MeshSettings = {
  pathNormalization: 'BASE',
  trustDomain: 'cluster.local',
  trustDomainAliases: [],
  jwksFetch: 'istiod',
  outboundTrafficPolicy: 'ALLOW_ANY',
};

/**
 * The mesh meshward installs (scripts/istio/mesh.yaml; a unit test keeps them equal): the
 * engine's default, so `decide` answers for the mesh the project's own manifests run in.
 */
export const INSTALLED_MESH: MeshSettings = {
  ...ISTIO_DEFAULT_MESH,
  pathNormalization: 'DECODE_AND_MERGE_SLASHES',
  jwksFetch: 'envoy',
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
  const jwksFetch = isRecord(operator) ? jwksFetchOf(operator, file) : ISTIO_DEFAULT_MESH.jwksFetch;
  const mesh: unknown = isRecord(operator)
    ? isRecord(operator.spec)
      ? operator.spec.meshConfig
      : undefined
    : values.find(isRecord);
  if (mesh === undefined) return { ...ISTIO_DEFAULT_MESH, jwksFetch };
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
  const otp = isRecord(mesh.outboundTrafficPolicy) ? mesh.outboundTrafficPolicy.mode : undefined;
  if (otp !== undefined && otp !== 'ALLOW_ANY' && otp !== 'REGISTRY_ONLY') {
    throw new Error(
      `${file}: outboundTrafficPolicy.mode must be ALLOW_ANY or REGISTRY_ONLY, got ${JSON.stringify(otp)}`,
    );
  }
  return {
    pathNormalization,
    trustDomain: td ?? ISTIO_DEFAULT_MESH.trustDomain,
    trustDomainAliases: aliases ?? [],
    jwksFetch,
    outboundTrafficPolicy: otp ?? ISTIO_DEFAULT_MESH.outboundTrafficPolicy,
  };
}

/** `PILOT_JWT_ENABLE_REMOTE_JWKS` of an IstioOperator, as istiod reads it (pkg/jwt/jwt.go). */
function jwksFetchOf(operator: Record<string, unknown>, file: string): JwksFetch {
  const spec = isRecord(operator.spec) ? operator.spec : {};
  const values = isRecord(spec.values) ? spec.values : {};
  const pilot = isRecord(values.pilot) ? values.pilot : {};
  const env = isRecord(pilot.env) ? pilot.env : {};
  const raw = env.PILOT_JWT_ENABLE_REMOTE_JWKS;
  if (raw === undefined) return ISTIO_DEFAULT_MESH.jwksFetch;
  if (typeof raw !== 'string' && typeof raw !== 'boolean') {
    throw new Error(
      `${file}: values.pilot.env.PILOT_JWT_ENABLE_REMOTE_JWKS must be a string, got ${JSON.stringify(raw)}`,
    );
  }
  return jwksFetchMode(String(raw));
}

/** istiod's `ConvertToJwksFetchMode` (case-sensitive; unset or unknown is istiod). */
export function jwksFetchMode(value: string | undefined): JwksFetch {
  if (value === 'envoy') return 'envoy';
  if (value === 'hybrid' || value === 'true') return 'hybrid';
  return 'istiod';
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
