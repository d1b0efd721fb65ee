import { ConfigError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { exitOnSignals, startServer } from '../shared/server.js';
import type { Lifecycle } from '../shared/web.js';
import { createShopWebApp } from './app.js';
import { loadShopWebConfig } from './config.js';

async function main(): Promise<void> {
  const config = loadShopWebConfig();
  const logger = createLogger('shop-web', config.logLevel);
  const lifecycle: Lifecycle = { ready: false, shuttingDown: false };
  const app = createShopWebApp({ publicDir: config.publicDir, logger, lifecycle });
  const running = await startServer({ app, logger, lifecycle, port: config.port });
  logger.info('started', { publicDir: config.publicDir });
  exitOnSignals(running, logger);
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError ? `configuration error: ${err.message}` : String(err);
  process.stderr.write(
    JSON.stringify({ level: 'error', service: 'shop-web', msg: message }) + '\n',
  );
  process.exit(1);
});
