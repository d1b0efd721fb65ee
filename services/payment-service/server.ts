import { ConfigError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { exitOnSignals, startServer } from '../shared/server.js';
import type { Lifecycle } from '../shared/web.js';
import { createPaymentApp } from './app.js';
import { loadPaymentServiceConfig } from './config.js';

async function main(): Promise<void> {
  const config = loadPaymentServiceConfig();
  const logger = createLogger('payment-service', config.logLevel);
  const lifecycle: Lifecycle = { ready: false, shuttingDown: false };
  const app = createPaymentApp({ config, logger, lifecycle });
  const running = await startServer({ app, logger, lifecycle, port: config.port });
  logger.info('started', { authMode: config.auth.mode });
  exitOnSignals(running, logger);
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError ? `configuration error: ${err.message}` : String(err);
  process.stderr.write(
    JSON.stringify({ level: 'error', service: 'payment-service', msg: message }) + '\n',
  );
  process.exit(1);
});
