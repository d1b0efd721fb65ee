import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import type { AuthConfig } from './config.js';
import { HttpError } from './errors.js';
import { VerifiedTokenCache } from './token-cache.js';

/** Who is calling, read from the propagated (mesh-verified or self-verified) JWT. */
export interface Identity {
  /** Subject (`sub`): the user id, or the service-account user of a client. */
  readonly subject: string;
  /** Authorized party (`azp`): the OAuth client the token was issued to. */
  readonly clientId?: string;
  /** Realm roles from `realm_access.roles`. */
  readonly roles: readonly string[];
  /** Scopes from the space-delimited `scope` claim. */
  readonly scopes: readonly string[];
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

function toIdentity(claims: JWTPayload, token: string): Identity {
  if (typeof claims.sub !== 'string' || claims.sub === '') {
    throw unauthorized('token has no subject');
  }
  const realmAccess = claims.realm_access as { roles?: unknown } | undefined;
  const roles = Array.isArray(realmAccess?.roles)
    ? realmAccess.roles.filter((r): r is string => typeof r === 'string')
    : [];
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  // Frozen: a cached identity is shared by every request that carries the same token.
  return Object.freeze({
    subject: claims.sub,
    ...(typeof claims.azp === 'string' ? { clientId: claims.azp } : {}),
    roles: Object.freeze(roles),
    scopes: Object.freeze(scopes),
    token,
  });
}

/**
 * Builds the function that turns an `Authorization` header into an Identity.
 *
 * - `mesh`: decode only. The sidecar's RequestAuthentication already rejected any
 *   invalid token with 401; the app must not run without the mesh in this mode.
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
      try {
        claims = decodeJwt(token);
      } catch (err) {
        throw unauthorized('token cannot be decoded', err);
      }
      const identity = toIdentity(claims, token);
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
    const identity = toIdentity(payload, token);
    remember(token, payload, identity);
    return identity;
  };
  return Object.assign(resolve, { cached });
}

export function hasRole(identity: Identity, role: string): boolean {
  return identity.roles.includes(role);
}
