export * from './model.js';
export { loadManifests, parseManifests, MODELED_KINDS } from './manifests.js';
export { compile, decide, type CompiledManifests, type MtlsMode } from './engine.js';
export { normalizePath } from './normalize.js';
export { lint, formatFindings, LINT_RULES, type Finding, type Severity } from './lint.js';
export {
  matrix,
  mismatches,
  formatMatrix,
  formatMermaid,
  parseRoutes,
  routesOf,
  hostOf,
  samplePath,
  ROUTES_ANNOTATION,
  type Matrix,
  type MatrixCell,
  type MatrixCaller,
  type MatrixOptions,
  type Mismatch,
  type RouteIntent,
} from './matrix.js';
export {
  matrixPrincipals,
  OTHER_ISSUER,
  type MatrixPrincipal,
  type MatrixPrincipals,
  type PrincipalKind,
} from './principals.js';
export { realmsOf, readRealmFile, jwtIssuers, type KnownRealm, type RealmFile } from './realms.js';
