import { createLogger, errorFields } from '../shared/logger.js';
import { startupFailureLine } from '../shared/server.js';
import { ClientCredentialsTokenSource } from '../shared/token-source.js';
import { loadReconcilerConfig } from './config.js';
import { reconcileOnce } from './reconcile.js';

/** CronJob entry point: one run, exit 0 on success, 1 on failure. */
async function main(): Promise<number> {
  let config;
  try {
    config = loadReconcilerConfig();
  } catch (err) {
    process.stderr.write(startupFailureLine('payment-reconciler', err));
    return 1;
  }
  const logger = createLogger('payment-reconciler', config.logLevel);
  const tokens = new ClientCredentialsTokenSource({
    tokenUrl: config.tokenUrl,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
  });
  try {
    const summary = await reconcileOnce({
      tokens,
      paymentServiceUrl: config.paymentServiceUrl,
      logger,
    });
    logger.info('reconcile done', { ...summary });
    return 0;
  } catch (err) {
    logger.error('reconcile failed', errorFields(err));
    return 1;
  }
}

process.exitCode = await main();
