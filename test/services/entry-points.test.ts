import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ConfigError } from '../../services/shared/errors.js';
import { startupFailureLine } from '../../services/shared/server.js';
import { freePort } from '../support/net.js';
import { distRoutes } from './support.js';

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
        PORT: String(await freePort()), // the entry points refuse PORT=0
        AUTH_MODE: 'mesh',
        JWT_ISSUER: 'https://issuer.example',
        JWT_AUDIENCE: 'shop-api',
        PAYMENT_SERVICE_URL: 'http://127.0.0.1:9',
        MESHWARD_ROUTES: distRoutes('order-service'),
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

  test('GIVEN no MESHWARD_ROUTES WHEN payment-service starts THEN it exits 1 naming the variable', async () => {
    const exit = await run('services/payment-service/server.ts', {
      AUTH_MODE: 'mesh',
      JWT_ISSUER: 'https://issuer.example',
      JWT_AUDIENCE: 'shop-api',
    });
    expect(exit.code).toBe(1);
    expect(JSON.parse(exit.stderr.trim())).toMatchObject({
      level: 'error',
      service: 'payment-service',
      msg: expect.stringMatching(/^configuration error: MESHWARD_ROUTES is not set/) as unknown,
    });
  }, 30_000);
});

describe('the image build (services/tsconfig.build.json)', () => {
  test('compiles every Dockerfile entry point where its CMD runs it, and only what the entry points import', () => {
    // GIVEN where the build puts its output: rootDir maps to outDir
    const services = join(ROOT, 'services');
    const build = JSON.parse(readFileSync(join(services, 'tsconfig.build.json'), 'utf8')) as {
      compilerOptions: { rootDir: string; outDir: string };
    };
    const rootDir = join(services, build.compilerOptions.rootDir);
    const outDir = join(services, build.compilerOptions.outDir);
    expect(relative(ROOT, outDir)).toBe(join('services', 'build'));
    // AND the source of the entry point each Dockerfile runs (its CMD's services/build/<path>.js)
    const dockerfiles = readdirSync(services, { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== 'build')
      .map((d) => join(services, d.name, 'Dockerfile'))
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file, 'utf8'));
    const entries = dockerfiles.flatMap((text) => {
      const cmd = /"(services\/build\/[\w/-]+)\.js"\]\s*$/.exec(text.trimEnd());
      return cmd?.[1] === undefined
        ? []
        : [relative(ROOT, join(rootDir, relative(outDir, join(ROOT, cmd[1])))) + '.ts'];
    });
    expect(entries).toHaveLength(4);
    for (const entry of entries) expect(existsSync(join(ROOT, entry))).toBe(true);
    // WHEN tsc lists the files the build compiles
    const tsc = spawnSync(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        'services/tsconfig.build.json',
        '--listFilesOnly',
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(tsc.status).toBe(0);
    const compiled = tsc.stdout
      .split('\n')
      .filter((f) => f.startsWith(ROOT) && !f.includes('/node_modules/'))
      .map((f) => relative(ROOT, f));
    // THEN every entry point is built, and no browser source, test harness or barrel is
    expect(compiled).toEqual(expect.arrayContaining(entries));
    expect(compiled).toContain('services/shop-web/src/client-config.ts');
    for (const unwanted of [
      'services/shop-web/src/main.ts',
      'services/shop-web/src/auth.ts',
      'services/order-service/harness.ts',
      'services/shared/index.ts',
    ]) {
      expect(compiled).not.toContain(unwanted);
    }
    // AND outside services/ only the contract the services import, which every image copies
    expect(compiled.filter((f) => !f.startsWith('services/')).sort()).toEqual([
      'contract/claims.ts',
      'contract/intent-env.ts',
      'contract/json.ts',
      'contract/match.ts',
      'contract/routes.ts',
    ]);
    for (const text of dockerfiles) expect(text).toContain('COPY contract ./contract');
  });
});
