import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Express, RequestHandler } from 'express';
import { ConfigError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { createLogger } from '../shared/logger.js';
import type { Lifecycle } from '../shared/web.js';
import { createServiceApp } from '../shared/web.js';
import { connectOrigins, parseWebClientConfig, type WebClientConfig } from './src/client-config.js';

/**
 * The files shop-web serves, by exact path (the same paths `policies/shop.ts` opens at the
 * gateway; a test keeps the two equal). Anything else is a 404.
 */
export const SHOP_WEB_FILES: Readonly<
  Record<string, { readonly file: string; readonly type: string; readonly cache: string }>
> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8', cache: 'no-store' },
  '/callback': { file: 'index.html', type: 'text/html; charset=utf-8', cache: 'no-store' },
  '/config.json': {
    file: 'config.json',
    type: 'application/json; charset=utf-8',
    cache: 'no-store',
  },
  '/assets/app.js': {
    file: 'assets/app.js',
    type: 'text/javascript; charset=utf-8',
    cache: 'no-cache',
  },
  '/assets/app.css': { file: 'assets/app.css', type: 'text/css; charset=utf-8', cache: 'no-cache' },
};

export interface ShopWebAppOptions {
  readonly publicDir: string;
  readonly logger?: Logger;
  readonly lifecycle?: Lifecycle;
}

/**
 * The Content-Security-Policy of every response: scripts and styles from the page's own
 * origin only (no inline code, no eval), network calls only to the API and the login
 * server of the generated config, no framing, no plugins, no base-URI tricks.
 */
export function contentSecurityPolicy(config: WebClientConfig): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src 'self' ${connectOrigins(config).join(' ')}`,
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join('; ');
}

export function securityHeaders(config: WebClientConfig): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(config),
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
    'strict-transport-security': 'max-age=31536000; includeSubDomains',
  };
}

function load(publicDir: string, file: string): Buffer {
  try {
    return readFileSync(join(publicDir, file));
  } catch {
    throw new ConfigError(
      `shop-web: ${join(publicDir, file)} is missing; build the bundle with 'npm run build:web'`,
    );
  }
}

/**
 * shop-web's static server. Reads the bundle into memory once (a missing file stops the
 * start), serves it by exact path with strict security headers on every answer (errors
 * and `/healthz` + `/readyz` included). It has no session, no cookie and no token: the
 * login runs in the browser.
 */
export function createShopWebApp(options: ShopWebAppOptions): Express {
  const logger = options.logger ?? createLogger('shop-web');
  // Each file once (index.html serves two paths; config.json is both served and parsed
  // for the CSP, so the two can never differ).
  const files = new Map<string, Buffer>();
  const file = (name: string): Buffer => {
    let body = files.get(name);
    if (body === undefined) files.set(name, (body = load(options.publicDir, name)));
    return body;
  };
  let config: WebClientConfig;
  try {
    config = parseWebClientConfig(JSON.parse(file('config.json').toString()));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      `shop-web: config.json is invalid: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const serviceOptions = {
    logger,
    lifecycle: options.lifecycle,
    headers: securityHeaders(config),
  };
  return createServiceApp(serviceOptions, (app) => {
    for (const [path, entry] of Object.entries(SHOP_WEB_FILES)) {
      const body = file(entry.file);
      const handler: RequestHandler = (_req, res) => {
        res.set({ 'content-type': entry.type, 'cache-control': entry.cache });
        res.send(body);
      };
      app.get(path, handler);
    }
  });
}
