import { fileURLToPath } from 'node:url';
import type { Env } from '../shared/config.js';
import { parseLogLevel, parsePort } from '../shared/config.js';
import type { LogLevel } from '../shared/logger.js';

export interface ShopWebConfig {
  readonly port: number;
  readonly logLevel: LogLevel;
  /** The built bundle: index.html, config.json, assets/. */
  readonly publicDir: string;
}

/** `public/` next to the compiled server (services/build/services/shop-web/public). */
export const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('./public', import.meta.url));

/** Parses PORT, LOG_LEVEL and PUBLIC_DIR once at start-up; a bad value is a ConfigError. */
export function loadShopWebConfig(env: Env = process.env): ShopWebConfig {
  const publicDir = env.PUBLIC_DIR?.trim();
  return {
    port: parsePort(env),
    logLevel: parseLogLevel(env),
    publicDir: publicDir === undefined || publicDir === '' ? DEFAULT_PUBLIC_DIR : publicDir,
  };
}
