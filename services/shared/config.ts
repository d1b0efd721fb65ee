import { readFileSync } from 'node:fs';
import type { ClaimFormat, ClaimPath } from '../../contract/claims.js';
import { decodeClaimPath, KEYCLOAK_ROLES_CLAIM } from '../../contract/claims.js';
import { INTENT_ENV, parseClaimFormat } from '../../contract/intent-env.js';
import type { RouteEntry } from '../../contract/routes.js';
import { parseRoutes, ROUTES_ANNOTATION } from '../../contract/routes.js';
import { ConfigError } from './errors.js';
import type { LogLevel } from './logger.js';
import { LOG_LEVELS } from './logger.js';

export type Env = Readonly<Record<string, string | undefined>>;

export type AuthMode = 'mesh' | 'verify';

export interface AuthConfig {
  /** `mesh`: decode only (the sidecar verified the token); `verify`: full jose verification. */
  readonly mode: AuthMode;
  readonly issuer: string;
  readonly audience: string;
  /** Required in `verify` mode. */
  readonly jwksUri?: URL;
  /** Accepted signature algorithms (never `none`, never HMAC). */
  readonly algorithms: readonly string[];
  readonly clockToleranceSeconds: number;
  /**
   * Accepted tokens kept in memory, so a repeated token skips the signature check
   * (`verify`) or the decoding (`mesh`) until it expires; 0 disables. See `VerifiedTokenCache`.
   */
  readonly cacheSize: number;
  /** The claim holding the caller's roles (`JWT_ROLES_CLAIM`). @default ['realm_access', 'roles'] */
  readonly rolesClaim: ClaimPath;
  /** How the roles claim holds several roles (`JWT_ROLES_CLAIM_FORMAT`). @default 'list' */
  readonly rolesClaimFormat: ClaimFormat;
  /**
   * The service's own route intent (`MESHWARD_ROUTES`: the pod's `meshward.io/routes`
   * annotation), the route list the mesh's policies are compiled from. The route guard
   * enforces it too. See `createRouteGuard`.
   */
  readonly routes: readonly RouteEntry[];
}

export interface BaseConfig {
  readonly port: number;
  readonly logLevel: LogLevel;
  readonly auth: AuthConfig;
}

/** Upper bound of JWT_CACHE_SIZE: cached tokens are at most 8 KiB, so at most ~80 MiB of keys. */
const MAX_JWT_CACHE_SIZE = 10000;

const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

/** Reads a non-empty variable or throws a ConfigError naming it. */
export function requireEnv(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === '') {
    throw new ConfigError(`environment variable ${name} is required but not set`);
  }
  return value;
}

/**
 * Reads a secret from the file `<NAME>_FILE` names (a mounted Secret key: meshward renders
 * `file: true` Secret references so), else from the variable NAME itself; a trailing line
 * break is dropped. Throws a ConfigError naming the variable (and the path), never the value.
 */
export function requireSecret(
  env: Env,
  name: string,
  read: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): string {
  const path = env[`${name}_FILE`]?.trim();
  if (path === undefined || path === '') return requireEnv(env, name);
  if (env[name] !== undefined) {
    throw new ConfigError(`set ${name}_FILE or ${name}, not both`);
  }
  let value: string;
  try {
    value = read(path).replace(/\r?\n$/, '');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ConfigError(`${name}_FILE '${path}' cannot be read (${code})`);
  }
  if (value.trim() === '') throw new ConfigError(`${name}_FILE '${path}' is empty`);
  return value;
}

/**
 * Reads a decimal integer in [min, max], or `fallback` when the variable is unset or
 * empty; anything else is a ConfigError naming the variable, its value and the range.
 */
export function parseIntEnv(
  env: Env,
  name: string,
  range: {
    readonly fallback: number;
    readonly min: number;
    readonly max: number;
    readonly hint?: string;
  },
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return range.fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < range.min || value > range.max) {
    throw new ConfigError(
      `${name} ('${raw}') must be an integer ${range.min}-${range.max}${range.hint ?? ''}`,
    );
  }
  return value;
}

export function parsePort(env: Env, name = 'PORT', fallback = 8080): number {
  return parseIntEnv(env, name, { fallback, min: 1, max: 65535 });
}

export function parseUrl(env: Env, name: string, options: { required: true }): URL;
export function parseUrl(env: Env, name: string, options: { required: false }): URL | undefined;
export function parseUrl(env: Env, name: string, options: { required: boolean }): URL | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') {
    if (options.required)
      throw new ConfigError(`environment variable ${name} is required but not set`);
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} ('${raw}') is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} ('${raw}') must use http or https`);
  }
  return url;
}

export function parseLogLevel(env: Env): LogLevel {
  const raw = env.LOG_LEVEL?.trim().toLowerCase();
  if (raw === undefined || raw === '') return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
    throw new ConfigError(`LOG_LEVEL ('${raw}') must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return raw as LogLevel;
}

const ROUTES_ENV = INTENT_ENV.routes;

/**
 * Parses MESHWARD_ROUTES (required: the route intent the service enforces) with the
 * contract's `parseRoutes`; a missing or malformed value is a ConfigError saying why.
 */
export function parseRoutesEnv(env: Env): RouteEntry[] {
  const text = env[ROUTES_ENV]?.trim();
  if (text === undefined || text === '') {
    throw new ConfigError(
      `${ROUTES_ENV} is not set: the service enforces its ${ROUTES_ANNOTATION} intent (the ` +
        'MeshService construct sets it from the pod annotation; for a local run copy the ' +
        'annotation from dist/)',
    );
  }
  try {
    return parseRoutes(text, ROUTES_ENV);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** Parses JWT_ROLES_CLAIM (`realm_access.roles` unless set) and JWT_ROLES_CLAIM_FORMAT. */
export function parseRolesClaim(env: Env): { path: ClaimPath; format: ClaimFormat } {
  const raw = env[INTENT_ENV.rolesClaim]?.trim();
  let path: ClaimPath = KEYCLOAK_ROLES_CLAIM;
  if (raw !== undefined && raw !== '') {
    try {
      path = decodeClaimPath(raw);
    } catch (err) {
      throw new ConfigError(`${INTENT_ENV.rolesClaim} ${(err as Error).message}`);
    }
  }
  try {
    return {
      path,
      format: parseClaimFormat(env[INTENT_ENV.rolesClaimFormat], INTENT_ENV.rolesClaimFormat),
    };
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/**
 * Parses AUTH_MODE, JWT_ISSUER, JWT_AUDIENCE, JWKS_URI, JWT_CLOCK_TOLERANCE_SECONDS,
 * JWT_CACHE_SIZE, JWT_ROLES_CLAIM, JWT_ROLES_CLAIM_FORMAT and MESHWARD_ROUTES (required in
 * both modes).
 * The default mode is `verify`: a service started outside a mesh verifies tokens itself.
 */
export function parseAuthConfig(env: Env): AuthConfig {
  const rawMode = env.AUTH_MODE?.trim() ?? '';
  const mode = rawMode === '' ? 'verify' : rawMode;
  if (mode !== 'mesh' && mode !== 'verify') {
    throw new ConfigError(`AUTH_MODE ('${rawMode}') must be 'mesh' or 'verify'`);
  }
  const issuer = requireEnv(env, 'JWT_ISSUER');
  const audience = requireEnv(env, 'JWT_AUDIENCE');
  const jwksUri =
    mode === 'verify'
      ? parseUrl(env, 'JWKS_URI', { required: true })
      : parseUrl(env, 'JWKS_URI', { required: false });
  const rawSkew = env.JWT_CLOCK_TOLERANCE_SECONDS?.trim();
  const clockToleranceSeconds = rawSkew === undefined || rawSkew === '' ? 30 : Number(rawSkew);
  if (
    !Number.isInteger(clockToleranceSeconds) ||
    clockToleranceSeconds < 0 ||
    clockToleranceSeconds > 300
  ) {
    throw new ConfigError(
      `JWT_CLOCK_TOLERANCE_SECONDS ('${rawSkew ?? ''}') must be an integer 0-300`,
    );
  }
  const cacheSize = parseIntEnv(env, 'JWT_CACHE_SIZE', {
    fallback: 1000,
    min: 0,
    max: MAX_JWT_CACHE_SIZE,
    hint: ' (0 disables the cache)',
  });
  const rolesClaim = parseRolesClaim(env);
  const routes = parseRoutesEnv(env);
  return {
    mode,
    issuer,
    audience,
    ...(jwksUri ? { jwksUri } : {}),
    algorithms: ASYMMETRIC_ALGORITHMS,
    clockToleranceSeconds,
    cacheSize,
    rolesClaim: rolesClaim.path,
    rolesClaimFormat: rolesClaim.format,
    routes,
  };
}

export function parseBaseConfig(env: Env): BaseConfig {
  return { port: parsePort(env), logLevel: parseLogLevel(env), auth: parseAuthConfig(env) };
}
