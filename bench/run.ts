/**
 * `npm run bench`: every benchmark, one table. Each figure is measured side by side
 * with its baseline in this run; a missed target exits 1 with the figure shown.
 */
import { cpus, totalmem } from 'node:os';

import { benchSynth } from './synth.bench.js';
import { printTable, type Row } from './table.js';

const rows: Row[] = [];
const started = new Date();
console.log(
  `meshward benchmarks — ${started.toISOString()} — ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
);
console.error(
  'synth: 10, 50, 200 services (meshward vs cdk8s-plus baseline, 3 runs each after a warm-up)...',
);
rows.push(...benchSynth());
printTable(rows);
const missed = rows.filter((r) => !r.ok);
if (missed.length > 0) {
  console.error(
    `\n${missed.length} target(s) missed: ${missed.map((r) => `${r.section} ${r.figure} (${r.ratio.toFixed(2)}, target ${r.target})`).join('; ')}`,
  );
  process.exit(1);
}
