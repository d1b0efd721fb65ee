import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ROUTES_ANNOTATION } from '../../contract/routes.js';
import type { AuthConfig } from '../../services/shared/config.js';
import { parseAuthConfig } from '../../services/shared/config.js';
import { createLogger } from '../../services/shared/logger.js';
import { loadDist } from '../support/manifests.js';

export const ISSUER = 'https://auth.shop.example.com/realms/shop';
export const AUDIENCE = 'shop-api';

export const silentLogger = createLogger('test', 'silent');

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

export interface TestIssuer {
  readonly keySet: JWTVerifyGetKey;
  readonly jwks: { keys: Record<string, unknown>[] };
  readonly privateKey: KeyPair['privateKey'];
  readonly publicKey: KeyPair['publicKey'];
  /** Signs an RS256 token with kid `k1`, valid 5 minutes, for ISSUER/AUDIENCE unless overridden. */
  mint(
    claims?: JWTPayload,
    options?: { kid?: string; expiresIn?: string | number; notBefore?: string | number },
  ): Promise<string>;
}

export async function createTestIssuer(): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const jwks = { keys: [jwk] };
  return {
    keySet: createLocalJWKSet(jwks),
    jwks,
    privateKey,
    publicKey,
    async mint(claims = {}, options = {}) {
      const jwt = new SignJWT({
        sub: 'user-1',
        realm_access: { roles: ['USER'] },
        scope: 'openid orders',
        azp: 'shop-web',
        ...claims,
      })
        .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'k1', typ: 'JWT' })
        .setIssuer(typeof claims.iss === 'string' ? claims.iss : ISSUER)
        .setAudience(claims.aud ?? AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '5m');
      if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
      return jwt.sign(privateKey);
    },
  };
}

/**
 * The `meshward.io/routes` annotation of a Deployment's pod template in dist/shop.yaml: the
 * MESHWARD_ROUTES value the MeshService construct gives that container. The one source of
 * the services' routes in tests and benchmarks (run `npm run synth` when the intent changes).
 */
export function distRoutes(deployment: 'order-service' | 'payment-service'): string {
  const owner = loadDist().find(
    (o) =>
      o.kind === 'Deployment' && o.metadata.namespace === 'shop' && o.metadata.name === deployment,
  ) as
    { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } } | undefined;
  const routes = owner?.spec?.template?.metadata?.annotations?.[ROUTES_ANNOTATION];
  if (routes === undefined) {
    throw new Error(
      `dist/: no Deployment shop/${deployment} with a ${ROUTES_ANNOTATION} annotation`,
    );
  }
  return routes;
}

/**
 * The auth config of `service` (order-service unless named), with its routes from dist/;
 * `env` adds or replaces variables (e.g. JWT_ROLES_CLAIM).
 */
export function authConfig(
  mode: 'mesh' | 'verify',
  service: 'order-service' | 'payment-service' = 'order-service',
  env: Readonly<Record<string, string>> = {},
): AuthConfig {
  return parseAuthConfig({
    AUTH_MODE: mode,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWKS_URI: 'http://127.0.0.1:9/jwks',
    MESHWARD_ROUTES: distRoutes(service),
    ...env,
  });
}

/** A promise plus its resolver, to hold a request in flight without sleeping. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
