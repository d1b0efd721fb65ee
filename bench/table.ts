/** One figure of the benchmark table: a measurement, its baseline from the same run, and the target. */
export interface Row {
  readonly section: string;
  readonly figure: string;
  /** The measured value, formatted with its unit. */
  readonly value: string;
  /** The baseline measured side by side, formatted, or '' when the figure is absolute. */
  readonly baseline: string;
  /** value / baseline (or the figure itself when absolute), as compared with the target. */
  readonly ratio: number;
  /** e.g. '≤ 2.00×', '≥ 500000/s'. */
  readonly target: string;
  readonly ok: boolean;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

export function printTable(rows: readonly Row[]): void {
  const header = ['section', 'figure', 'value', 'baseline', 'ratio', 'target', ''];
  const lines = rows.map((r) => [
    r.section,
    r.figure,
    r.value,
    r.baseline,
    r.ratio.toFixed(2),
    r.target,
    r.ok ? 'ok' : 'MISSED',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(fmt(header));
  console.log(fmt(widths.map((w) => '-'.repeat(w))));
  for (const l of lines) console.log(fmt(l));
}
