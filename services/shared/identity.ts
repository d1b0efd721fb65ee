import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { ClaimPath } from '../../contract/claims.js';
import { claimStrings } from '../../contract/claims.js';
import type { AuthConfig } from './config.js';
import { HttpError } from './errors.js';
import { VerifiedTokenCache } from './token-cache.js';

/** Who is calling, read from the propagated (mesh-verified or self-verified) JWT. */
export interface Identity {
  /** Subject (`sub`): the user id, or the service-account user of a client. */
  readonly subject: string;
  /** Authorized party (`azp`): the OAuth client the token was issued to. */
  readonly clientId?: string;
  /**
   * Roles from the configured roles claim (`JWT_ROLES_CLAIM`, Keycloak's `realm_access.roles`
   * by default): its strings, or its one string split on spaces when `JWT_ROLES_CLAIM_FORMAT`
   * is `space-delimited`.
   */
  readonly roles: readonly string[];
  /** Scopes from the space-delimited `scope` claim. */
  readonly scopes: readonly string[];
  /** The token's claims as decoded (deeply frozen), for the route guard's `when` conditions. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** The raw bearer token, to propagate downstream. */
  readonly token: string;
}

/** Turns an `Authorization` header into an Identity; every token problem rejects. */
export interface IdentityResolver {
  (authorization: string | undefined): Promise<Identity>;
  /**
   * The identity for a header whose token is cached and still valid, without waiting;
   * undefined means "call the resolver".
   */
  readonly cached?: (authorization: string | undefined) => Identity | undefined;
}

export interface IdentityResolverOptions {
  /** Key set to verify against; defaults to the remote JWKS at `auth.jwksUri`. */
  readonly keySet?: JWTVerifyGetKey;
  /** Longest a verified token stays cached, whatever its `exp`. @default 300 */
  readonly cacheMaxTtlSeconds?: number;
  /** Clock in milliseconds since the epoch, for verification and the cache (tests). @default Date.now */
  readonly now?: () => number;
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/;
const BEARER_PREFIX = 'Bearer ';

function unauthorized(message: string, cause?: unknown): HttpError {
  return new HttpError(401, 'unauthorized', message, cause === undefined ? undefined : { cause });
}

/** The roles claim and the claims to split on spaces (see contract/claims.ts `claimStrings`). */
interface RolesClaim {
  readonly path: ClaimPath;
  readonly spaceDelimited: ReadonlySet<string>;
}

/** Freezes a decoded JSON value and everything in it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function toIdentity(claims: JWTPayload, token: string, rolesClaim: RolesClaim): Identity {
  if (typeof claims.sub !== 'string' || claims.sub === '') {
    throw unauthorized('token has no subject');
  }
  const roles = claimStrings(claims, rolesClaim.path, rolesClaim.spaceDelimited) ?? [];
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  // Frozen: a cached identity is shared by every request that carries the same token.
  return Object.freeze({
    subject: claims.sub,
    ...(typeof claims.azp === 'string' ? { clientId: claims.azp } : {}),
    roles: Object.freeze(roles),
    scopes: Object.freeze(scopes),
    claims: deepFreeze(claims),
    token,
  });
}

/** The claim names `claimStrings` splits on spaces besides `scope`: the roles claim, if so configured. */
export function spaceDelimitedClaims(
  auth: Pick<AuthConfig, 'rolesClaim' | 'rolesClaimFormat'>,
): ReadonlySet<string> {
  return new Set(auth.rolesClaimFormat === 'space-delimited' ? [auth.rolesClaim.join('.')] : []);
}

/**
 * Builds the function that turns an `Authorization` header into an Identity.
 *
 * - `mesh`: decode only. The sidecar's RequestAuthentication already rejected any
 *   invalid token with 401; the app must not run without the mesh in this mode. What a
 *   request that bypassed the sidecar (`kubectl port-forward`, a pod without injection)
 *   could still bring is refused all the same: an unsigned token (`alg` none, or any
 *   algorithm outside the allow-list), one without `exp`, an expired one, one not yet valid,
 *   and one of another issuer.
 * - `verify`: full verification with jose — issuer, audience, asymmetric algorithm
 *   allow-list, `exp`/`nbf` with clock tolerance, key from the JWKS by `kid`.
 *
 * Accepted tokens are cached (`auth.cacheSize`, see `VerifiedTokenCache`) until they
 * expire: a repeated token skips the signature check (`verify`) or the decoding (`mesh`).
 *
 * Every token problem is a 401; only an unreachable JWKS is a 503.
 */
export function createIdentityResolver(
  auth: AuthConfig,
  options: IdentityResolverOptions = {},
): IdentityResolver {
  let keySet: JWTVerifyGetKey | undefined = options.keySet;
  if (auth.mode === 'verify' && keySet === undefined) {
    if (auth.jwksUri === undefined) throw new Error('AUTH_MODE=verify needs JWKS_URI');
    keySet = createRemoteJWKSet(auth.jwksUri, { timeoutDuration: 5000, cooldownDuration: 30000 });
  }
  const algorithms = [...auth.algorithms];
  const rolesClaim: RolesClaim = {
    path: auth.rolesClaim,
    spaceDelimited: spaceDelimitedClaims(auth),
  };
  const now = options.now ?? Date.now;
  const cache =
    auth.cacheSize > 0
      ? new VerifiedTokenCache({
          maxEntries: auth.cacheSize,
          clockToleranceSeconds: auth.clockToleranceSeconds,
          now,
          ...(options.cacheMaxTtlSeconds === undefined
            ? {}
            : { maxTtlSeconds: options.cacheMaxTtlSeconds }),
        })
      : undefined;
  /** Caches a token that has passed every check of the mode (never a rejected one). */
  const remember = (token: string, claims: JWTPayload, identity: Identity): void => {
    if (cache === undefined || typeof claims.exp !== 'number') return;
    cache.set(token, identity, {
      exp: claims.exp,
      ...(typeof claims.nbf === 'number' ? { nbf: claims.nbf } : {}),
    });
  };
  /**
   * A cache hit for the header. The cache holds only tokens that matched BEARER and
   * passed every check before, so an exact match needs no second look at the syntax.
   */
  const cached = (authorization: string | undefined): Identity | undefined =>
    cache !== undefined && authorization?.startsWith(BEARER_PREFIX) === true
      ? cache.get(authorization.slice(BEARER_PREFIX.length))
      : undefined;
  const resolve = async (authorization: string | undefined): Promise<Identity> => {
    if (authorization === undefined || authorization === '') {
      throw unauthorized('missing bearer token');
    }
    // A hit is a token this resolver accepted before and whose exp/nbf still hold; a
    // miss (including an expired entry) takes the full path below.
    const hit = cached(authorization);
    if (hit !== undefined) return hit;
    const match = BEARER.exec(authorization);
    const token = match?.[1];
    if (token === undefined) throw unauthorized('malformed Authorization header');
    if (auth.mode === 'mesh' || keySet === undefined) {
      let claims: JWTPayload;
      let alg: unknown;
      try {
        claims = decodeJwt(token);
        alg = decodeProtectedHeader(token).alg;
      } catch (err) {
        throw unauthorized('token cannot be decoded', err);
      }
      checkUnverified(claims, alg, auth, now());
      const identity = toIdentity(claims, token, rolesClaim);
      remember(token, claims, identity);
      return identity;
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keySet, {
        issuer: auth.issuer,
        audience: auth.audience,
        algorithms,
        clockTolerance: auth.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
        currentDate: new Date(now()),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) {
        throw new HttpError(503, 'jwks_unavailable', 'token keys are unavailable', { cause: err });
      }
      throw unauthorized('invalid token', err);
    }
    const identity = toIdentity(payload, token, rolesClaim);
    remember(token, payload, identity);
    return identity;
  };
  return Object.assign(resolve, { cached });
}

/**
 * What `mesh` mode checks without the signature: an asymmetric algorithm of the allow-list
 * (never `none`), the issuer, and `exp` / `nbf` with the clock tolerance.
 */
function checkUnverified(claims: JWTPayload, alg: unknown, auth: AuthConfig, nowMs: number): void {
  if (typeof alg !== 'string' || !auth.algorithms.includes(alg)) {
    throw unauthorized(`token algorithm ${JSON.stringify(alg ?? null)} is not accepted`);
  }
  if (claims.iss !== auth.issuer) throw unauthorized('token is of another issuer');
  const seconds = nowMs / 1000;
  if (typeof claims.exp !== 'number') throw unauthorized('token has no exp');
  if (claims.exp + auth.clockToleranceSeconds < seconds) throw unauthorized('token has expired');
  if (typeof claims.nbf === 'number' && claims.nbf - auth.clockToleranceSeconds > seconds) {
    throw unauthorized('token is not valid yet');
  }
}

export function hasRole(identity: Identity, role: string): boolean {
  return identity.roles.includes(role);
}
