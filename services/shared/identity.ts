import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import type { AuthConfig } from './config.js';
import { HttpError } from './errors.js';

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

export type IdentityResolver = (authorization: string | undefined) => Promise<Identity>;

export interface IdentityResolverOptions {
  /** Key set to verify against; defaults to the remote JWKS at `auth.jwksUri`. */
  readonly keySet?: JWTVerifyGetKey;
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/;

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
  return {
    subject: claims.sub,
    ...(typeof claims.azp === 'string' ? { clientId: claims.azp } : {}),
    roles,
    scopes,
    token,
  };
}

/**
 * Builds the function that turns an `Authorization` header into an Identity.
 *
 * - `mesh`: decode only. The sidecar's RequestAuthentication already rejected any
 *   invalid token with 401; the app must not run without the mesh in this mode.
 * - `verify`: full verification with jose — issuer, audience, asymmetric algorithm
 *   allow-list, `exp`/`nbf` with clock tolerance, key from the JWKS by `kid`.
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
  return async (authorization) => {
    if (authorization === undefined || authorization === '') {
      throw unauthorized('missing bearer token');
    }
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
      return toIdentity(claims, token);
    }
    try {
      const { payload } = await jwtVerify(token, keySet, {
        issuer: auth.issuer,
        audience: auth.audience,
        algorithms: [...auth.algorithms],
        clockTolerance: auth.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
      });
      return toIdentity(payload, token);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) {
        throw new HttpError(503, 'jwks_unavailable', 'token keys are unavailable', { cause: err });
      }
      throw unauthorized('invalid token', err);
    }
  };
}

export function hasRole(identity: Identity, role: string): boolean {
  return identity.roles.includes(role);
}
