/**
 * order-service started from its real entry point (services/order-service/server.ts, through tsx)
 * as a server process of its own, configured with the environment dist/ gives its Deployment,
 * with the cluster URLs swapped for loopback ones.
 */
import { deploymentEnv } from './dist.js';
import { startNodeService } from './process.js';

export interface OrderService {
  readonly url: string;
  /** The environment it was started with (dist/ values plus the overrides). */
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * overrides: variables that replace dist/'s values, e.g. `JWKS_URI` (the running Keycloak's
 * loopback URL) or `AUTH_MODE`. PAYMENT_SERVICE_URL points at a closed loopback port unless given.
 */
export async function startOrderService(
  name: string,
  overrides: Readonly<Record<string, string>>,
): Promise<OrderService> {
  const env: Record<string, string> = {
    ...deploymentEnv('shop', 'order-service'),
    PAYMENT_SERVICE_URL: 'http://127.0.0.1:9',
    LOG_LEVEL: 'warn',
    ...overrides,
  };
  const service = await startNodeService(name, 'services/order-service/server.ts', env);
  return {
    url: service.url,
    env: { ...env, PORT: new URL(service.url).port },
    stop: () => service.stop(),
  };
}
