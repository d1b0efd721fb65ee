import { runHttpService } from '../shared/server.js';
import { createPaymentApp } from './app.js';
import { loadPaymentServiceConfig } from './config.js';

runHttpService({
  name: 'payment-service',
  loadConfig: loadPaymentServiceConfig,
  createApp: createPaymentApp,
  startedFields: (config) => ({ authMode: config.auth.mode }),
});
