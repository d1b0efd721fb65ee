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

/**
 * Parses AUTH_MODE, JWT_ISSUER, JWT_AUDIENCE, JWKS_URI, JWT_CLOCK_TOLERANCE_SECONDS and
 * JWT_CACHE_SIZE.
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
  return {
    mode,
    issuer,
    audience,
    ...(jwksUri ? { jwksUri } : {}),
    algorithms: ASYMMETRIC_ALGORITHMS,
    clockToleranceSeconds,
    cacheSize,
  };
}

export function parseBaseConfig(env: Env): BaseConfig {
  return { port: parsePort(env), logLevel: parseLogLevel(env), auth: parseAuthConfig(env) };
}
