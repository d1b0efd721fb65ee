/**
 * Builds shop-web's browser bundle into services/build/services/shop-web/public (git-ignored):
 *   index.html, assets/app.css   copied from services/shop-web/static/
 *   assets/app.js                services/shop-web/src/main.ts bundled by esbuild (with oidc-client-ts)
 *   config.json                  generated from the intent (policies/shop-web.ts), validated
 *
 *   npm run build:web            (after `npm run build:services` for the server)
 */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

import { shopWebConfig } from '../policies/shop-web.js';
import {
  parseWebClientConfig,
  type WebClientConfig,
} from '../services/shop-web/src/client-config.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUT_DIR = join(repoRoot, 'services/build/services/shop-web/public');
const source = join(repoRoot, 'services/shop-web');

/** Writes only config.json (validated) into `outDir`. */
export function writeWebConfig(outDir: string, config: WebClientConfig = shopWebConfig): string {
  const file = join(outDir, 'config.json');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(file, JSON.stringify(parseWebClientConfig(config), null, 2) + '\n');
  return file;
}

/** Builds the whole bundle into `outDir` (emptied first). */
export async function buildShopWeb(
  outDir: string = DEFAULT_OUT_DIR,
  config: WebClientConfig = shopWebConfig,
): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'assets'), { recursive: true });
  await build({
    entryPoints: [join(source, 'src/main.ts')],
    outfile: join(outDir, 'assets/app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  copyFileSync(join(source, 'static/index.html'), join(outDir, 'index.html'));
  copyFileSync(join(source, 'static/app.css'), join(outDir, 'assets/app.css'));
  writeWebConfig(outDir, config);
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  buildShopWeb().then(
    () => {
      process.stdout.write(`shop-web bundle written to ${DEFAULT_OUT_DIR}\n`);
    },
    (err: unknown) => {
      process.stderr.write(
        `build:web failed: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
