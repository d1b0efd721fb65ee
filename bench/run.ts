/**
 * `npm run bench [-- --only synth,engine,services,tests,dataplane,config,cluster]`: the benchmarks, one table.
 * Each ratio is measured side by side with its baseline in this run; absolute figures
 * (decisions/s, matrix and test-suite time) are compared with their target directly.
 * Progress goes to stderr, the table to stdout. A missed target, or a benchmark that
 * could not run, exits 1 naming the figure.
 */
import { cpus, totalmem } from 'node:os';

import { type Benchmark, parseBenchArgs, USAGE } from './args.js';
import { benchCluster } from './cluster.bench.js';
import { benchConfig } from './config.bench.js';
import { benchDataplane } from './dataplane.bench.js';
import { benchEngine } from './engine.bench.js';
import { benchServices } from './services.bench.js';
import { benchSynth } from './synth.bench.js';
import { failedRow, missedSummary, printTable, type Row } from './table.js';
import { benchTests } from './tests.bench.js';

const BENCHMARKS: Record<Benchmark, { readonly about: string; run(): Row[] | Promise<Row[]> }> = {
  synth: {
    about: '10, 50, 200 services (meshward vs cdk8s-plus baseline, 3 runs each after a warm-up)',
    run: () => benchSynth(),
  },
  engine: {
    about: 'decisions/s on dist/ and on a 200-service mesh, then its access matrix',
    run: () => benchEngine(),
  },
  services: {
    about:
      'GET /api/orders, bare Express vs order-service mesh / verify / uncached verify (autocannon, ~2 min)',
    run: () => benchServices(),
  },
  tests: {
    about: 'one `npm test` run, wall time',
    run: () => benchTests(),
  },
  dataplane: {
    about: 'verify-dataplane on dist/ (root; provisioned meshward-xds and Envoy), wall time',
    run: () => benchDataplane(),
  },
  config: {
    about:
      'per-proxy xDS bytes from istiod (meshward-xds dump) of a 200-service mesh, Sidecars vs none, and 200 vs 50 services',
    run: () => benchConfig(),
  },
  cluster: {
    about:
      'deploy.sh to Ready and istiod/sidecar memory on the running single-node cluster (scripts/local-up.sh first)',
    run: () => benchCluster(),
  },
};

let args;
try {
  args = parseBenchArgs(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const rows: Row[] = [];
console.log(
  `meshward benchmarks — ${new Date().toISOString()} — ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
);
for (const name of args.only) {
  const bench = BENCHMARKS[name];
  const start = Date.now();
  console.error(`${name}: ${bench.about}...`);
  try {
    rows.push(...(await bench.run()));
  } catch (err) {
    rows.push(failedRow(name, 'benchmark', err));
    console.error(err);
  }
  console.error(`${name}: done in ${((Date.now() - start) / 1000).toFixed(0)} s`);
}
printTable(rows);
const missed = missedSummary(rows);
if (missed !== undefined) {
  console.error(`\n${missed}`);
  process.exit(1);
}
