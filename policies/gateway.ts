/**
 * The shop's API gateway intent: which public hosts exist, which service serves each,
 * who may reach it and how much they may send. `charts/app.ts` turns it into an
 * `ApiGateway` (chart `gateway`, objects in `istio-system` and `ratelimit`).
 */
import type { GatewayIntent } from '../charts/lib/index.js';

import { SHOP_KEYCLOAK_LOCATION, SHOP_WEB_ORIGIN } from './realm.js';

/** The shop's public host: the web front end and its API, one origin (`SHOP_WEB_ORIGIN`). */
export const SHOP_HOST = new URL(SHOP_WEB_ORIGIN).hostname;
/** Keycloak's public host (the host of its `KC_HOSTNAME`). */
export const AUTH_HOST = new URL(SHOP_KEYCLOAK_LOCATION.publicUrl).hostname;

export const shopGateway: GatewayIntent = {
  hosts: [
    { host: SHOP_HOST, credentialName: 'shop-example-com-tls' },
    { host: AUTH_HOST, credentialName: 'auth-shop-example-com-tls' },
  ],
  routes: [
    { host: SHOP_HOST, backend: 'order-service' },
    { host: SHOP_HOST, backend: 'shop-web' },
    { host: AUTH_HOST, backend: 'keycloak' },
  ],
  // Keycloak answers CORS for its own endpoints (the realm client's web origins).
  cors: { allowOrigins: [SHOP_WEB_ORIGIN], hosts: [SHOP_HOST] },
  // Private ranges only (a kind cluster, a VPN, the office); the public Internet is refused.
  allowedCidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.1/32'],
  maxRequestBytes: 1024 * 1024,
  localRateLimit: { requestsPerSecond: 10, burst: 20 },
  globalRateLimit: {
    namespace: 'ratelimit',
    domain: 'shop-gateway',
    perClient: { requestsPerUnit: 10, unit: 'second' },
    failureModeDeny: false,
  },
};
