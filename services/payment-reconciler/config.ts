import type { Env } from '../shared/config.js';
import { parseLogLevel, parseUrl, requireEnv, requireSecret } from '../shared/config.js';
import type { LogLevel } from '../shared/logger.js';

export interface ReconcilerConfig {
  readonly tokenUrl: URL;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly paymentServiceUrl: URL;
  readonly logLevel: LogLevel;
}

/** Parses the environment once at start-up; throws a ConfigError naming the bad variable. */
export function loadReconcilerConfig(env: Env = process.env): ReconcilerConfig {
  return {
    tokenUrl: parseUrl(env, 'TOKEN_URL', { required: true }),
    clientId: requireEnv(env, 'CLIENT_ID'),
    // CLIENT_SECRET_FILE: the mounted Secret key (the shop's manifests); CLIENT_SECRET for a
    // local run.
    clientSecret: requireSecret(env, 'CLIENT_SECRET'),
    paymentServiceUrl: parseUrl(env, 'PAYMENT_SERVICE_URL', { required: true }),
    logLevel: parseLogLevel(env),
  };
}
