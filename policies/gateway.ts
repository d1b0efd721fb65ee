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
  // The office network and `kubectl port-forward` (its tunnel reaches the gateway from the
  // pod's loopback); the Internet, other pods and SNATed traffic are refused (red-team M2).
  allowedCidrs: ['192.168.1.0/24', '127.0.0.1/32'],
  // Where the shop runs: pods and Services of kind, minikube and the single-node cluster,
  // their node networks (kind 172.18.0.0/16, minikube 192.168.49.0/24, local 10.250.0.0/24).
  clusterCidrs: [
    '10.244.0.0/16',
    '10.96.0.0/12',
    '10.250.0.0/24',
    '172.18.0.0/16',
    '192.168.49.0/24',
  ],
  maxRequestBytes: 1024 * 1024,
  localRateLimit: { requestsPerSecond: 10, burst: 20 },
  globalRateLimit: {
    namespace: 'ratelimit',
    domain: 'shop-gateway',
    perClient: { requestsPerUnit: 10, unit: 'second' },
    failureModeDeny: false,
  },
};
