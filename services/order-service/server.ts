import { ConfigError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { exitOnSignals, startServer } from '../shared/server.js';
import type { Lifecycle } from '../shared/web.js';
import { createOrderApp } from './app.js';
import { loadOrderServiceConfig } from './config.js';

async function main(): Promise<void> {
  const config = loadOrderServiceConfig();
  const logger = createLogger('order-service', config.logLevel);
  const lifecycle: Lifecycle = { ready: false, shuttingDown: false };
  const app = createOrderApp({ config, logger, lifecycle });
  const running = await startServer({ app, logger, lifecycle, port: config.port });
  logger.info('started', { authMode: config.auth.mode });
  exitOnSignals(running, logger);
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError ? `configuration error: ${err.message}` : String(err);
  process.stderr.write(
    JSON.stringify({ level: 'error', service: 'order-service', msg: message }) + '\n',
  );
  process.exit(1);
});
