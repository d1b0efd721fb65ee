/**
 * Token claims as Istio's `when` conditions name and match them. One definition for the
 * constructs (which write the conditions), the policy engine's access matrix (which judges
 * tokens against a route's intent) and the services (which enforce the same intent as
 * defence in depth). Imports nothing.
 *
 * @see https://istio.io/latest/docs/reference/config/security/conditions/
 */

import { stringMatcher } from './match.js';

/** A claim inside the token payload, as a path: `['realm_access', 'roles']`. */
export type ClaimPath = readonly string[];

/** Keycloak's realm roles: `realm_access.roles`, a list of strings. */
export const KEYCLOAK_ROLES_CLAIM: ClaimPath = ['realm_access', 'roles'];

/** How a claim holds several values: a JSON list, or one string split on spaces. */
export type ClaimFormat = 'list' | 'space-delimited';

/** The claims Istio always splits on spaces, whatever the RequestAuthentication says. */
export const ALWAYS_SPACE_DELIMITED: readonly string[] = ['scope', 'permission'];

/** The OAuth2 scope claim as a `when` key. */
export const SCOPE_KEY = 'request.auth.claims[scope]';
/** The `azp` claim (the OAuth2 client the token was issued to) as a `when` key. */
export const PRESENTER_KEY = 'request.auth.presenter';
/** The `aud` claim as a `when` key. */
export const AUDIENCES_KEY = 'request.auth.audiences';
/** `<iss>/<sub>` as a `when` key. */
export const REQUEST_PRINCIPAL_KEY = 'request.auth.principal';

/** One `when` condition on the token: the key and the values it accepts (any of them). */
export interface ClaimCondition {
  readonly key: string;
  readonly values: readonly string[];
}

const CLAIM_SEGMENT = /^[^[\]]+$/;

/** Whether every segment of `path` can be written inside Istio's brackets. */
export function claimPathError(path: ClaimPath): string | undefined {
  if (path.length === 0) return 'a claim path needs at least one name';
  const bad = path.find((segment) => !CLAIM_SEGMENT.test(segment) || segment.trim() !== segment);
  return bad === undefined
    ? undefined
    : `claim name '${bad}' must be non-empty, without '[' or ']' or surrounding spaces`;
}

/** `['realm_access', 'roles']` → `request.auth.claims[realm_access][roles]`. */
export function claimKey(path: ClaimPath): string {
  const error = claimPathError(path);
  if (error !== undefined) throw new Error(error);
  return `request.auth.claims${path.map((segment) => `[${segment}]`).join('')}`;
}

/** `request.auth.claims[a][b]` → `['a', 'b']`; undefined when `key` is not a claim key. */
export function parseClaimKey(key: string): string[] | undefined {
  const brackets = /^request\.auth\.claims((\[[^[\]]+\])+)$/.exec(key)?.at(1);
  if (brackets === undefined) return undefined;
  return [...brackets.matchAll(/\[([^[\]]+)\]/g)].flatMap((x) => x.slice(1, 2));
}

/**
 * A claim path as an environment variable carries it (`JWT_ROLES_CLAIM`): names joined
 * with `.`, or a JSON array when a name itself contains a `.` (Auth0's
 * `https://example.com/roles`).
 */
export function encodeClaimPath(path: ClaimPath): string {
  return path.some((segment) => segment.includes('.')) ? JSON.stringify(path) : path.join('.');
}

/** The reverse of `encodeClaimPath`; throws naming the value when it is not a claim path. */
export function decodeClaimPath(text: string): string[] {
  let path: unknown;
  if (text.startsWith('[')) {
    try {
      path = JSON.parse(text);
    } catch {
      throw new Error(`'${text}' is neither a dotted claim path nor a JSON array of names`);
    }
    if (!Array.isArray(path) || path.some((segment) => typeof segment !== 'string')) {
      throw new Error(`'${text}' must be a JSON array of claim names`);
    }
  } else {
    path = text.split('.');
  }
  const segments = path as string[];
  const error = claimPathError(segments);
  if (error !== undefined) throw new Error(`'${text}': ${error}`);
  return segments;
}

/** The claim at `path` in a token payload, or undefined. */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: ClaimPath): unknown {
  let value: unknown = claims;
  for (const segment of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/**
 * The strings Istio compares a claim with: a list's string elements; a string as itself,
 * or split on spaces when the claim is space-delimited (`scope`, `permission`, and the
 * RequestAuthentication's `spaceDelimitedClaims`, by the claim's last name); nothing for
 * any other type. Undefined when the claim is absent.
 */
export function claimStrings(
  claims: Readonly<Record<string, unknown>>,
  path: ClaimPath,
  spaceDelimited: ReadonlySet<string> = new Set(),
): string[] | undefined {
  const value = claimAt(claims, path);
  if (value === undefined) return undefined;
  if (typeof value === 'string') {
    const last = path[path.length - 1] ?? '';
    const split =
      ALWAYS_SPACE_DELIMITED.includes(last) ||
      spaceDelimited.has(last) ||
      spaceDelimited.has(path.join('.'));
    return split ? value.split(' ').filter((s) => s.length > 0) : [value];
  }
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** The `aud` claim as a list. */
export function audiencesOf(claims: Readonly<Record<string, unknown>>): string[] {
  const aud = claims.aud;
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

/** Reads the values a token offers for one `when` key. */
type OfferedValues = (claims: Readonly<Record<string, unknown>>) => string[] | undefined;

/** Compiles the reader of a `when` key's values; undefined when the key is not about the token. */
function offeredValues(
  key: string,
  spaceDelimited: ReadonlySet<string>,
): OfferedValues | undefined {
  const path = parseClaimKey(key);
  if (path !== undefined) return (claims) => claimStrings(claims, path, spaceDelimited) ?? [];
  switch (key) {
    case PRESENTER_KEY:
      return (claims) => (typeof claims.azp === 'string' ? [claims.azp] : []);
    case AUDIENCES_KEY:
      return audiencesOf;
    case REQUEST_PRINCIPAL_KEY:
      return (claims) =>
        typeof claims.iss === 'string' && typeof claims.sub === 'string'
          ? [`${claims.iss}/${claims.sub}`]
          : [];
    default:
      return undefined;
  }
}

/**
 * The values a token offers for a `when` key, or undefined when the key is not about the
 * token (a header, an address, a peer field).
 */
export function tokenValues(
  key: string,
  claims: Readonly<Record<string, unknown>>,
  spaceDelimited: ReadonlySet<string> = new Set(),
): string[] | undefined {
  return offeredValues(key, spaceDelimited)?.(claims);
}

/** A compiled set of conditions: whether a token's claims satisfy all of them. */
export type ClaimsPredicate = (claims: Readonly<Record<string, unknown>>) => boolean;

/**
 * Compiles conditions once (claim paths parsed, matchers built), for callers that judge many
 * tokens against the same rule: a token satisfies a condition when some value it offers
 * matches some accepted value, and the rule when it satisfies every condition (Istio ANDs a
 * rule's `when` entries). A key that is not about the token never holds.
 */
export function compileConditions(
  conditions: readonly ClaimCondition[],
  spaceDelimited: ReadonlySet<string> = new Set(),
): ClaimsPredicate {
  const checks = conditions.map((condition): ClaimsPredicate => {
    const offered = offeredValues(condition.key, spaceDelimited);
    if (offered === undefined) return () => false;
    const accepted = condition.values.map((pattern) => stringMatcher(pattern));
    return (claims) => offered(claims)?.some((value) => accepted.some((m) => m(value))) ?? false;
  });
  return (claims) => checks.every((check) => check(claims));
}

/** Whether the token satisfies one condition: some value it offers matches some accepted value. */
export function conditionHolds(
  condition: ClaimCondition,
  claims: Readonly<Record<string, unknown>>,
  spaceDelimited: ReadonlySet<string> = new Set(),
): boolean {
  return compileConditions([condition], spaceDelimited)(claims);
}

/** Whether the token satisfies every condition (Istio ANDs the `when` entries of a rule). */
export function conditionsHold(
  conditions: readonly ClaimCondition[],
  claims: Readonly<Record<string, unknown>>,
  spaceDelimited: ReadonlySet<string> = new Set(),
): boolean {
  return compileConditions(conditions, spaceDelimited)(claims);
}

/** Whether `key` is a `when` key about the token (claims, presenter, audiences, principal). */
export function isTokenKey(key: string): boolean {
  return (
    parseClaimKey(key) !== undefined ||
    key === PRESENTER_KEY ||
    key === AUDIENCES_KEY ||
    key === REQUEST_PRINCIPAL_KEY
  );
}
