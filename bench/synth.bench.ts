/**
 * Synth: meshward's full-security system of N services against N bare cdk8s-plus
 * Deployments + Services, each synthesized in its own process (as `cdk8s synth` runs
 * the app), alternating A B A B so drift hits both alike. Reports the whole-process
 * wall time (what a user waits for), the in-process synth time, and peak RSS.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { median, pairedRatio, type Row } from './table.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

interface Sample {
  wallMs: number;
  synthMs: number;
  maxRssBytes: number;
  objects: number;
}

function runOnce(kind: 'meshward' | 'baseline', services: number): Sample {
  const out = mkdtempSync(join(tmpdir(), `meshward-bench-${kind}-`));
  try {
    const start = performance.now();
    const child = spawnSync(TSX, ['bench/synth-child.ts', kind, String(services), out], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const wallMs = performance.now() - start;
    if (child.status !== 0)
      throw new Error(`synth ${kind} ${services} failed: ${child.stderr || String(child.error)}`);
    const line = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as {
      ms: number;
      maxRssBytes: number;
      objects: number;
    };
    return { wallMs, synthMs: line.ms, maxRssBytes: line.maxRssBytes, objects: line.objects };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const fmtMs = (ms: number) => `${ms.toFixed(0)} ms`;
const fmtMiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

export function benchSynth(sizes: readonly number[] = [10, 50, 200], runs = 3): Row[] {
  const rows: Row[] = [];
  const synthBySize = new Map<number, number>();
  const wallBySize = new Map<number, number>();
  for (const n of sizes) {
    console.error(`  ${n} services...`);
    runOnce('meshward', n); // warm-up: file cache, tsx cache
    runOnce('baseline', n);
    const a: Sample[] = [];
    const b: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      a.push(runOnce('meshward', n));
      b.push(runOnce('baseline', n));
    }
    const pair = (pick: (s: Sample) => number) => ({
      a: median(a.map(pick)),
      b: median(b.map(pick)),
      ratio: pairedRatio(a.map(pick), b.map(pick)),
    });
    const wall = pair((s) => s.wallMs);
    const synth = pair((s) => s.synthMs);
    const rss = pair((s) => s.maxRssBytes);
    synthBySize.set(n, synth.a);
    wallBySize.set(n, wall.a);
    const objs = `${a[0]?.objects ?? 0} vs ${b[0]?.objects ?? 0} objects`;
    rows.push(
      {
        section: 'synth',
        figure: `${n} services: whole process (${objs})`,
        value: fmtMs(wall.a),
        baseline: fmtMs(wall.b),
        ratio: wall.ratio,
        target: '≤ 2.00×',
        ok: wall.ratio <= 2,
      },
      {
        section: 'synth',
        figure: `${n} services: in-process synth`,
        value: fmtMs(synth.a),
        baseline: fmtMs(synth.b),
        ratio: synth.ratio,
        target: 'report',
        ok: true,
      },
      {
        section: 'synth',
        figure: `${n} services: peak RSS`,
        value: fmtMiB(rss.a),
        baseline: fmtMiB(rss.b),
        ratio: rss.ratio,
        target: '≤ 2.00×',
        ok: rss.ratio <= 2,
      },
    );
  }
  const first = sizes.at(0);
  const last = sizes.at(-1);
  if (first !== undefined && last !== undefined && first !== last) {
    const growth = (synthBySize.get(last) ?? NaN) / (synthBySize.get(first) ?? NaN);
    const limit = (25 * last) / 200 / (first / 10);
    rows.push({
      section: 'synth',
      figure: `growth: in-process ${last} / ${first} services`,
      value: fmtMs(synthBySize.get(last) ?? NaN),
      baseline: fmtMs(synthBySize.get(first) ?? NaN),
      ratio: growth,
      target: `≤ ${limit.toFixed(2)}×`,
      ok: growth <= limit,
    });
  }
  return rows;
}
