/**
 * One access-matrix build, in its own process so the benchmark can stop it:
 * `node --import tsx bench/matrix-child.ts <manifest dir>`. Loads the manifests
 * (untimed), builds `matrix()` once (timed, cold, as `meshward matrix` does) and prints
 * one JSON line.
 */
import { performance } from 'node:perf_hooks';

import { loadManifests, matrix } from '../policies/engine/index.js';

const dir = process.argv.at(2);
if (dir === undefined) {
  console.error('usage: matrix-child.ts <manifest dir>');
  process.exit(2);
}
const manifests = loadManifests([dir]);
const start = performance.now();
const m = matrix(manifests);
const ms = performance.now() - start;
console.log(
  JSON.stringify({
    ms,
    cells: m.cells.length,
    services: m.services.length,
    callers: m.callers.length,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
