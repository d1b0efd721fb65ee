/**
 * The environment a MeshService gives its container so the app can enforce its own intent
 * (`MeshServiceProps.intentEnv`): written by the constructs, read by the services. Imports
 * nothing but the contract.
 */
import type { ClaimFormat } from './claims.js';

export const INTENT_ENV = {
  /** The `meshward.io/routes` annotation of the pod (contract/routes.ts), via the downward API. */
  routes: 'MESHWARD_ROUTES',
  /** The issuer's roles claim (`encodeClaimPath`): `realm_access.roles`, `groups`, ... */
  rolesClaim: 'JWT_ROLES_CLAIM',
  /** `space-delimited` when the roles claim is one space-separated string; unset = `list`. */
  rolesClaimFormat: 'JWT_ROLES_CLAIM_FORMAT',
} as const;

export const CLAIM_FORMATS: readonly ClaimFormat[] = ['list', 'space-delimited'];

/** Parses a roles claim format; throws naming `what` and the value. Empty = `list`. */
export function parseClaimFormat(value: string | undefined, what: string): ClaimFormat {
  const v = value?.trim() ?? '';
  if (v === '') return 'list';
  if (!(CLAIM_FORMATS as readonly string[]).includes(v)) {
    throw new Error(`${what} ('${v}') must be ${CLAIM_FORMATS.map((f) => `'${f}'`).join(' or ')}`);
  }
  return v as ClaimFormat;
}
