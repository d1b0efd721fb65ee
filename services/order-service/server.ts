import { runHttpService } from '../shared/server.js';
import { createOrderApp } from './app.js';
import { loadOrderServiceConfig } from './config.js';

runHttpService({
  name: 'order-service',
  loadConfig: loadOrderServiceConfig,
  createApp: createOrderApp,
  startedFields: (config) => ({ authMode: config.auth.mode }),
});
