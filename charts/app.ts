import { App, type AppProps, Chart } from 'cdk8s';

import { shopGateway } from '../policies/gateway.js';
import { shopKeycloak } from '../policies/realm.js';
import { shop } from '../policies/shop.js';

import {
  ApiGateway,
  Keycloak,
  keycloakBackend,
  MeshSystem,
  meshServiceBackend,
} from './lib/index.js';

/**
 * The cdk8s app for the reference shop: one chart (one file in dist/) per part of the
 * system. `charts/main.ts` synthesizes it; tests build it in memory.
 */
export function buildApp(props: AppProps = {}): App {
  const app = new App({ outdir: 'dist', outputFileExtension: '.yaml', ...props });
  const shopSystem = new MeshSystem(app, 'shop', { intent: shop, disableResourceNameHashes: true });
  const keycloak = new Keycloak(
    new Chart(app, 'auth', { disableResourceNameHashes: true }),
    'Keycloak',
    shopKeycloak,
  );
  new ApiGateway(new Chart(app, 'gateway', { disableResourceNameHashes: true }), 'Gateway', {
    ...shopGateway,
    issuer: shop.issuer,
    backends: [
      ...[...shopSystem.services.values()].filter((s) => s.exposed).map(meshServiceBackend),
      keycloakBackend(keycloak),
    ],
  });
  return app;
}
