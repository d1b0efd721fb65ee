import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

import { ConfigError } from '../../services/shared/errors.js';
import { startupFailureLine } from '../../services/shared/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a service entry point through tsx; `onStdout` may signal it (e.g. SIGTERM once started). */
function run(
  entry: string,
  env: Record<string, string>,
  onStdout?: (text: string, child: ReturnType<typeof spawn>) => void,
): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A port that was free a moment ago (the entry points refuse PORT=0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

describe('service entry points (runHttpService)', () => {
  test('startupFailureLine: one JSON line naming the service; config errors say so', () => {
    expect(JSON.parse(startupFailureLine('svc', new ConfigError('PORT bad')))).toEqual({
      level: 'error',
      service: 'svc',
      msg: 'configuration error: PORT bad',
    });
    expect(startupFailureLine('svc', new Error('boom'))).toBe(
      '{"level":"error","service":"svc","msg":"Error: boom"}\n',
    );
  });

  test('GIVEN a bad AUTH_MODE WHEN order-service starts THEN it exits 1 with the config error on stderr', async () => {
    const exit = await run('services/order-service/server.ts', {
      AUTH_MODE: 'bogus',
      JWT_ISSUER: 'https://issuer.example',
      JWT_AUDIENCE: 'shop-api',
    });
    expect(exit.code).toBe(1);
    expect(JSON.parse(exit.stderr.trim())).toEqual({
      level: 'error',
      service: 'order-service',
      msg: "configuration error: AUTH_MODE ('bogus') must be 'mesh' or 'verify'",
    });
  }, 30_000);

  test('GIVEN a valid config WHEN order-service starts and gets SIGTERM THEN it logs started and stops with 0', async () => {
    let signalled = false;
    const exit = await run(
      'services/order-service/server.ts',
      {
        PORT: String(await freePort()),
        AUTH_MODE: 'mesh',
        JWT_ISSUER: 'https://issuer.example',
        JWT_AUDIENCE: 'shop-api',
        PAYMENT_SERVICE_URL: 'http://127.0.0.1:9',
      },
      (out, child) => {
        if (!signalled && out.includes('"msg":"started"')) {
          signalled = true;
          child.kill('SIGTERM');
        }
      },
    );
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    const started = exit.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'started');
    expect(started).toMatchObject({ service: 'order-service', level: 'info', authMode: 'mesh' });
    expect(exit.stdout).toContain('"msg":"stopped"');
  }, 30_000);
});
