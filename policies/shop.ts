/**
 * The security intent of the reference shop, as data. `charts/main.ts` compiles it
 * with `MeshSystem`; `meshward matrix` checks the synthesized manifests against it.
 *
 *   user ──JWT──▶ ingress gateway ──▶ order-service ──(mTLS + user JWT)──▶ payment-service
 *   payment-reconciler (CronJob) ──(mTLS + its client-credentials JWT)──▶ payment-service
 */
import type { SystemIntent } from '../charts/lib/index.js';

// The issuer, JWKS and token URLs and the audience come from the realm (one source of truth).
import {
  SHOP_AUDIENCE,
  SHOP_ISSUER,
  SHOP_JWKS_URI,
  SHOP_TOKEN_URL,
  SHOP_WEB_CALLBACK_PATH,
} from './realm.js';

export { SHOP_AUDIENCE, SHOP_ISSUER, SHOP_JWKS_URI, SHOP_TOKEN_URL };

const IMAGE_TAG = '0.1.0';
const image = (name: string): string => `meshward/${name}:${IMAGE_TAG}`;

const verifyEnv = {
  AUTH_MODE: 'mesh',
  JWT_ISSUER: SHOP_ISSUER,
  JWT_AUDIENCE: SHOP_AUDIENCE,
  JWKS_URI: SHOP_JWKS_URI,
};

export const shop: SystemIntent = {
  namespace: 'shop',
  issuer: { issuer: SHOP_ISSUER, jwksUri: SHOP_JWKS_URI, audiences: [SHOP_AUDIENCE] },
  services: [
    {
      name: 'order-service',
      image: image('order-service'),
      exposed: true,
      env: {
        ...verifyEnv,
        PAYMENT_SERVICE_URL: 'http://payment-service.shop.svc.cluster.local:8080',
      },
      routes: [
        { methods: ['GET'], paths: ['/api/public/*'], public: true },
        { methods: ['GET', 'POST'], paths: ['/api/orders'], roles: ['USER'] },
        // Ownership (the caller's `sub`) is checked by the service, which answers 404 to others.
        { methods: ['GET', 'DELETE'], paths: ['/api/orders/{id}'], roles: ['USER', 'ADMIN'] },
        // Everyone's orders: staff only. The scope is consent on top of the role, never instead
        // of it (realm.ts grants 'admin:read' to ADMIN alone; Istio ANDs the two conditions).
        {
          methods: ['GET'],
          paths: ['/api/orders/admin/all'],
          roles: ['ADMIN'],
          scopes: ['admin:read'],
        },
        { paths: ['/api/admin/*'], roles: ['ADMIN'] },
      ],
    },
    {
      // The browser app (services/shop-web): static files only, no token. The login flow
      // happens in the browser; the API calls go to order-service with the user's token.
      name: 'shop-web',
      image: image('shop-web'),
      exposed: true,
      // Static files for anyone: no token to check, so no route intent to enforce in the app.
      intentEnv: false,
      routes: [
        {
          methods: ['GET', 'HEAD'],
          // Exact files: anything else on the host (and every other method) stays closed.
          paths: ['/', SHOP_WEB_CALLBACK_PATH, '/config.json', '/assets/app.js', '/assets/app.css'],
          public: true,
        },
      ],
    },
    {
      name: 'payment-service',
      image: image('payment-service'),
      env: verifyEnv,
      routes: [
        {
          methods: ['POST'],
          paths: ['/api/payments'],
          callers: ['order-service'],
          roles: ['USER'],
        },
        {
          methods: ['GET'],
          paths: ['/api/payments/{id}'],
          callers: ['order-service'],
          roles: ['USER'],
        },
        {
          methods: ['POST'],
          paths: ['/api/internal/reconcile'],
          callers: ['payment-reconciler'],
          clients: ['payment-reconciler'],
        },
      ],
    },
  ],
  jobs: [
    {
      name: 'payment-reconciler',
      image: image('payment-reconciler'),
      schedule: '*/15 * * * *',
      env: {
        TOKEN_URL: SHOP_TOKEN_URL,
        CLIENT_ID: 'payment-reconciler',
        // A file, never an environment variable (red-team L8).
        CLIENT_SECRET_FILE: {
          secretName: 'payment-reconciler-oauth',
          key: 'client-secret',
          file: true,
        },
        PAYMENT_SERVICE_URL: 'http://payment-service.shop.svc.cluster.local:8080',
      },
    },
  ],
};
