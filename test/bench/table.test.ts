import {
  failedRow,
  median,
  missedSummary,
  pairedRatio,
  type Row,
  runAlone,
} from '../../bench/table.js';

const row = (over: Partial<Row>): Row => ({
  section: 'services',
  figure: 'mesh mode: throughput',
  value: '900 req/s',
  baseline: '1,000 req/s',
  ratio: 0.9,
  target: '≥ 0.85×',
  ok: true,
  ...over,
});

describe('median', () => {
  it.each([
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[7], 7],
  ])('of %j is %d', (values, expected) => {
    expect(median(values)).toBe(expected);
  });

  it('is NaN for no values', () => {
    expect(median([])).toBeNaN();
  });

  it('does not reorder its input', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('pairedRatio', () => {
  it('is the median of the per-round ratios, not the ratio of the medians', () => {
    // GIVEN rounds where the machine slowed both sides alike in round 2
    const mesh = [90, 45, 88];
    const bare = [100, 50, 110];
    // WHEN paired THEN each round compares with its own baseline: 0.9, 0.9, 0.8
    expect(pairedRatio(mesh, bare)).toBeCloseTo(0.9);
    expect(median(mesh) / median(bare)).toBeCloseTo(0.88); // what pairing avoids
  });

  it('throws when the series are not paired', () => {
    expect(() => pairedRatio([1, 2], [1])).toThrow('same, non-zero length (2 vs 1)');
    expect(() => pairedRatio([], [])).toThrow('non-zero length');
  });
});

describe('missedSummary', () => {
  it('is undefined when every target holds', () => {
    expect(missedSummary([row({}), row({ target: 'report' })])).toBeUndefined();
  });

  it('names each missed figure with its value, ratio and target', () => {
    // GIVEN one figure under target among good ones
    const rows = [
      row({}),
      row({
        figure: 'verify mode: throughput',
        value: '450 req/s',
        ratio: 0.45,
        target: '≥ 0.60×',
        ok: false,
      }),
    ];
    // THEN the summary names it, and only it
    expect(missedSummary(rows)).toBe(
      '1 target(s) missed: services verify mode: throughput (450 req/s, ratio 0.45, target ≥ 0.60×)',
    );
  });

  it('names a benchmark that could not run', () => {
    // as run.ts reports a benchmark that threw
    const failed = failedRow('services', 'benchmark', new Error('mesh server exited (1)\nstack'));
    expect(failed.ok).toBe(false);
    expect(missedSummary([failed])).toBe(
      '1 target(s) missed: services benchmark: FAILED (mesh server exited (1))',
    );
  });
});

describe('runAlone', () => {
  /** runAlone's stdout and stderr lines and the exit code it leaves, restoring all three. */
  function capture(rows: readonly Row[]): { out: string[]; err: string[]; exitCode: unknown } {
    const out: string[] = [];
    const err: string[] = [];
    const { log, error } = console;
    const before = process.exitCode;
    console.log = (line: string) => out.push(line);
    console.error = (line: string) => err.push(line);
    process.exitCode = undefined;
    try {
      runAlone(rows);
      return { out, err, exitCode: process.exitCode };
    } finally {
      console.log = log;
      console.error = error;
      process.exitCode = before;
    }
  }

  it('prints the table and leaves the exit code alone when every target holds', () => {
    const run = capture([row({}), row({ figure: 'mesh mode: p50 / p99', target: 'report' })]);
    expect(run.out).toHaveLength(4); // header, rule, two rows
    expect(run.out[2]).toMatch(/^services +mesh mode: throughput +900 req\/s .* ok$/);
    expect(run.err).toEqual([]);
    expect(run.exitCode).toBeUndefined();
  });

  it('names the missed figures on stderr and exits 1', () => {
    const run = capture([row({}), row({ value: '450 req/s', ratio: 0.45, ok: false })]);
    expect(run.out[3]).toMatch(/MISSED$/);
    expect(run.err).toEqual([
      '\n1 target(s) missed: services mesh mode: throughput (450 req/s, ratio 0.45, target ≥ 0.85×)',
    ]);
    expect(run.exitCode).toBe(1);
  });
});
