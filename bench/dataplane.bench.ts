/**
 * The differential harness on dist/: one `meshward verify-dataplane` run of the whole corpus
 * (≥ 3,000 requests through istiod-configured Envoys and decide), tools already provisioned.
 * The figure is absolute: the ratio column shows time / target. A run with a disagreement, a
 * rejected config or no root misses it (its time says nothing then).
 * Run alone: `npx tsx bench/dataplane.bench.ts` (root; exit 1 over target).
 */
import { fileURLToPath } from 'node:url';

import { verifyDataplane } from '../policies/dataplane/run.js';
import { type Row, runAlone } from './table.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const TARGET_SECONDS = 120;

export async function benchDataplane(): Promise<Row[]> {
  const report = await verifyDataplane({
    manifests: [`${ROOT}dist`],
    seed: 20261201,
    size: 3000,
    progress: (line) => process.stderr.write(`  ${line}\n`),
  });
  const clean = report.disagreements.length === 0 && report.rejected === 0;
  const seconds = report.seconds.total;
  return [
    {
      section: 'dataplane',
      figure: `verify-dataplane dist/: ${String(report.compared)} requests, ${String(report.proxies)} Envoys (${String(report.disagreements.length)} disagree; setup ${report.seconds.setup.toFixed(1)} s)`,
      value: `${seconds.toFixed(1)} s`,
      baseline: '',
      ratio: seconds / TARGET_SECONDS,
      target: `< ${TARGET_SECONDS} s (ratio < 1)`,
      ok: clean && report.compared >= 3000 && seconds < TARGET_SECONDS,
    },
  ];
}

if (fileURLToPath(import.meta.url) === process.argv.at(1)) runAlone(await benchDataplane());
