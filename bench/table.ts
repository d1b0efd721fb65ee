/** One figure of the benchmark table: a measurement, its baseline from the same run, and the target. */
export interface Row {
  readonly section: string;
  readonly figure: string;
  /** The measured value, formatted with its unit. */
  readonly value: string;
  /** The baseline measured side by side, formatted, or '' when the figure is absolute. */
  readonly baseline: string;
  /** value / baseline; for an absolute figure, value / target (NaN: no ratio). */
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

/**
 * The median of the per-round ratios a[i] / b[i] of two series measured side by side
 * (round i of each ran back to back, so drift on a shared machine hits both alike).
 * Throws when the series are not paired.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length === 0) {
    throw new Error(
      `paired series must have the same, non-zero length (${a.length} vs ${b.length})`,
    );
  }
  return median(a.map((x, i) => x / (b[i] ?? NaN)));
}

/** A figure that could not be measured: a MISSED row carrying the reason. */
export function failedRow(section: string, figure: string, err: unknown): Row {
  const message = err instanceof Error ? err.message : String(err);
  return {
    section,
    figure: `${figure}: FAILED (${message.split('\n')[0] ?? ''})`,
    value: '',
    baseline: '',
    ratio: NaN,
    target: '',
    ok: false,
  };
}

/** One line naming every missed figure, or undefined when all targets hold. */
export function missedSummary(rows: readonly Row[]): string | undefined {
  const missed = rows.filter((r) => !r.ok);
  if (missed.length === 0) return undefined;
  const what = missed.map((r) =>
    r.target === ''
      ? `${r.section} ${r.figure}`
      : `${r.section} ${r.figure} (${r.value}, ratio ${r.ratio.toFixed(2)}, target ${r.target})`,
  );
  return `${missed.length} target(s) missed: ${what.join('; ')}`;
}

export function printTable(rows: readonly Row[]): void {
  const header = ['section', 'figure', 'value', 'baseline', 'ratio', 'target', ''];
  const lines = rows.map((r) => [
    r.section,
    r.figure,
    r.value,
    r.baseline,
    Number.isNaN(r.ratio) ? '-' : r.ratio.toFixed(2),
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

/**
 * A benchmark run alone (`npx tsx bench/<name>.bench.ts`): its rows as a table on stdout,
 * the missed figures on stderr and exit code 1 when a target is missed.
 */
export function runAlone(rows: readonly Row[]): void {
  printTable(rows);
  const missed = missedSummary(rows);
  if (missed !== undefined) {
    console.error(`\n${missed}`);
    process.exitCode = 1;
  }
}
