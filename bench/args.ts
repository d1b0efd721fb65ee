/** Command line of `npm run bench [-- --only synth,engine,services,tests,dataplane,config,cluster]`. */

export const BENCHMARKS = [
  'synth',
  'engine',
  'services',
  'tests',
  'dataplane',
  'config',
  'cluster',
] as const;
export type Benchmark = (typeof BENCHMARKS)[number];

export const USAGE = `usage: npm run bench [-- --only ${BENCHMARKS.join(',')}]
  --only <names>  run only these benchmarks (comma-separated, or repeat the flag)
  --help          this text`;

export interface BenchArgs {
  /** The benchmarks to run, in table order. */
  readonly only: readonly Benchmark[];
  readonly help: boolean;
}

const isBenchmark = (name: string): name is Benchmark =>
  (BENCHMARKS as readonly string[]).includes(name);

/** Parses the arguments after `--`; throws naming an unknown flag or benchmark. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const picked = new Set<Benchmark>();
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv.at(i) ?? '';
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    let value: string | undefined;
    if (arg === '--only') value = argv.at(++i);
    else if (arg.startsWith('--only=')) value = arg.slice('--only='.length);
    else throw new Error(`unknown argument '${arg}'`);
    if (value === undefined || value === '') throw new Error(`'--only' needs a benchmark name`);
    for (const name of value.split(',').map((s) => s.trim())) {
      if (!isBenchmark(name)) {
        throw new Error(`unknown benchmark '${name}' (one of ${BENCHMARKS.join(', ')})`);
      }
      picked.add(name);
    }
  }
  return {
    only: picked.size === 0 ? [...BENCHMARKS] : BENCHMARKS.filter((b) => picked.has(b)),
    help,
  };
}
