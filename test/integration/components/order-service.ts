/**
 * order-service started from its real entry point (services/order-service/server.ts, through tsx)
 * as a server process of its own, configured with the environment dist/ gives its Deployment,
 * with the cluster URLs swapped for loopback ones.
 */
import { join } from 'node:path';
import { deploymentEnv } from './dist.js';
import { freePort, startServer, waitUntil } from './process.js';
import { repoRoot } from './tools.js';

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
  const port = await freePort();
  const env: Record<string, string> = {
    ...deploymentEnv('shop', 'order-service'),
    PAYMENT_SERVICE_URL: 'http://127.0.0.1:9',
    LOG_LEVEL: 'warn',
    ...overrides,
    PORT: String(port),
  };
  const server = startServer(
    name,
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'services/order-service/server.ts')],
    { env: { PATH: process.env.PATH ?? '', ...env }, cwd: repoRoot },
  );
  const url = `http://127.0.0.1:${String(port)}`;
  try {
    await waitUntil(server, 'ready', async () => (await fetch(`${url}/readyz`)).ok, 60_000);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { url, env, stop: () => server.stop() };
}
