import type { JWTVerifyGetKey } from 'jose';
import type { AuthMode } from '../shared/config.js';
import { parseAuthConfig } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import type { RunningServer } from '../shared/server.js';
import { startServer } from '../shared/server.js';
import type { Lifecycle } from '../shared/web.js';
import { createOrderApp } from './app.js';
import type { PaymentClient } from './payment-client.js';

export interface LocalOrderServiceOptions {
  readonly authMode: AuthMode;
  readonly issuer: string;
  readonly audience: string;
  /** Keys for `verify` mode (e.g. jose `createLocalJWKSet`); or give `jwksUri`. */
  readonly keySet?: JWTVerifyGetKey;
  readonly jwksUri?: string;
  /** payment-service stand-in; defaults to one that answers instantly. */
  readonly paymentClient?: PaymentClient;
  readonly paymentServiceUrl?: string;
  /** JWT_CACHE_SIZE; 0 verifies or decodes every token. @default the service's default */
  readonly jwtCacheSize?: number;
  /**
   * MESHWARD_ROUTES: the route intent the service enforces, the `meshward.io/routes`
   * annotation of its Deployment's pod template in dist/shop.yaml (never a hand-written copy).
   */
  readonly routes: string;
}

/**
 * Starts order-service on 127.0.0.1 with a free port and silent logs, for benchmarks
 * (issue 9: mesh vs verify mode) and tests. Stop it with `shutdown()`.
 */
export async function startLocalOrderService(
  options: LocalOrderServiceOptions,
): Promise<RunningServer & { url: string }> {
  const auth = parseAuthConfig({
    AUTH_MODE: options.authMode,
    JWT_ISSUER: options.issuer,
    JWT_AUDIENCE: options.audience,
    JWKS_URI: options.jwksUri ?? (options.keySet ? 'http://127.0.0.1:9/unused' : undefined),
    JWT_CACHE_SIZE: options.jwtCacheSize?.toString(),
    MESHWARD_ROUTES: options.routes,
  });
  const logger = createLogger('order-service', 'silent');
  const lifecycle: Lifecycle = { ready: false, shuttingDown: false };
  let n = 0;
  const paymentClient: PaymentClient = options.paymentClient ?? {
    charge: () => Promise.resolve({ paymentId: `pay-${++n}` }),
  };
  const app = createOrderApp({
    config: {
      port: 0,
      logLevel: 'silent',
      auth,
      paymentServiceUrl: new URL(options.paymentServiceUrl ?? 'http://127.0.0.1:9'),
    },
    logger,
    lifecycle,
    paymentClient,
    ...(options.keySet ? { keySet: options.keySet } : {}),
  });
  const running = await startServer({ app, logger, lifecycle, port: 0, host: '127.0.0.1' });
  return { ...running, url: `http://127.0.0.1:${running.port}` };
}
