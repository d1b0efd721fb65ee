import { App, type AppProps } from 'cdk8s';

import { shop } from '../policies/shop.js';

import { MeshSystem } from './lib/index.js';

/**
 * The cdk8s app for the reference shop: one chart (one file in dist/) per part of the
 * system. `charts/main.ts` synthesizes it; tests build it in memory.
 */
export function buildApp(props: AppProps = {}): App {
  const app = new App({ outdir: 'dist', outputFileExtension: '.yaml', ...props });
  new MeshSystem(app, 'shop', { intent: shop, disableResourceNameHashes: true });
  return app;
}
