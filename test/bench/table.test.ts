import { failedRow, median, missedSummary, pairedRatio, type Row } from '../../bench/table.js';

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
    const failed = failedRow('services', 'services', new Error('mesh server exited (1)\nstack'));
    expect(failed.ok).toBe(false);
    expect(missedSummary([failed])).toBe(
      '1 target(s) missed: services services: FAILED (mesh server exited (1))',
    );
  });
});
