/**
 * Test suite: the wall time of one `npm test` (jest --ci), run as a child process with
 * no terminal (stdin closed, output captured, CI=true), stopped after TIMEOUT_MS. The
 * figure is absolute (there is no baseline to run beside it): the ratio column shows
 * time / target. A red suite misses the figure too: its time says nothing.
 * Run alone: `npx tsx bench/tests.bench.ts` (exit 1 over target).
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { type Row, runAlone } from './table.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const TARGET_SECONDS = 90;
const TIMEOUT_MS = 300_000;

interface Run {
  readonly seconds: number;
  readonly code: number | null;
  readonly timedOut: boolean;
  /** jest's summary lines (`Tests: ...`), or the output's last lines. */
  readonly summary: string;
}

function runOnce(): Promise<Run> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    // Its own process group, so a timeout stops npm, jest and jest's workers together.
    const child = spawn('npm', ['test', '--silent'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, CI: 'true', FORCE_COLOR: '0' },
    });
    let output = '';
    const collect = (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const lines = output.trimEnd().split('\n');
      const jest = lines.filter((l) => /^(Test Suites|Tests|Snapshots|Time):/.test(l));
      resolve({
        seconds: (performance.now() - start) / 1000,
        code,
        timedOut,
        summary: (jest.length > 0 ? jest : lines.slice(-3)).join(' | '),
      });
    });
  });
}

export async function benchTests(): Promise<Row[]> {
  const run = await runOnce();
  const passed = run.code === 0 && !run.timedOut;
  const tests = /Tests:\s+([^|]*)/.exec(run.summary)?.[1]?.trim() ?? '';
  if (!passed) console.error(`  npm test ${run.timedOut ? 'timed out' : 'failed'}: ${run.summary}`);
  const status = run.timedOut
    ? `stopped after ${TIMEOUT_MS / 1000} s`
    : passed
      ? tests
      : `FAILED, exit ${String(run.code)}: ${tests}`;
  return [
    {
      section: 'tests',
      figure: `npm test wall time (${status})`,
      value: `${run.seconds.toFixed(1)} s`,
      baseline: '',
      ratio: run.seconds / TARGET_SECONDS,
      target: `< ${TARGET_SECONDS} s (ratio < 1)`,
      ok: passed && run.seconds < TARGET_SECONDS,
    },
  ];
}

if (fileURLToPath(import.meta.url) === process.argv.at(1)) runAlone(await benchTests());
