import { runHttpService } from '../shared/server.js';
import { createShopWebApp } from './app.js';
import { loadShopWebConfig } from './config.js';

runHttpService({
  name: 'shop-web',
  loadConfig: loadShopWebConfig,
  createApp: ({ config, logger, lifecycle }) =>
    createShopWebApp({ publicDir: config.publicDir, logger, lifecycle }),
  startedFields: (config) => ({ publicDir: config.publicDir }),
});
