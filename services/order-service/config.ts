import type { BaseConfig, Env } from '../shared/config.js';
import { parseBaseConfig, parseUrl } from '../shared/config.js';

export interface OrderServiceConfig extends BaseConfig {
  /** Base URL of payment-service, e.g. `http://payment-service.shop.svc.cluster.local:8080`. */
  readonly paymentServiceUrl: URL;
}

/** Parses the environment once at start-up; throws a ConfigError naming the bad variable. */
export function loadOrderServiceConfig(env: Env = process.env): OrderServiceConfig {
  return {
    ...parseBaseConfig(env),
    paymentServiceUrl: parseUrl(env, 'PAYMENT_SERVICE_URL', { required: true }),
  };
}
