import type { BaseConfig, Env } from '../shared/config.js';
import { parseBaseConfig } from '../shared/config.js';

export type PaymentServiceConfig = BaseConfig;

/** Parses the environment once at start-up; throws a ConfigError naming the bad variable. */
export function loadPaymentServiceConfig(env: Env = process.env): PaymentServiceConfig {
  return parseBaseConfig(env);
}
