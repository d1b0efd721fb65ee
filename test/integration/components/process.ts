/**
 * Starting and stopping real servers. Each server runs detached in its own process group, logs
 * to a file in the run folder, and is registered in `<run folder>/pgids` so that
 * scripts/integration/run.sh can kill whatever a crashed test run left behind.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../support/net.js';
import { repoRoot } from './tools.js';

export { freePort };

/** The run folder: MESHWARD_INTEG_RUN from run.sh, or a fresh temp folder. */
export const runDir: string = (() => {
  const fromEnv = process.env.MESHWARD_INTEG_RUN;
  if (fromEnv !== undefined && fromEnv !== '') {
    mkdirSync(fromEnv, { recursive: true });
    return fromEnv;
  }
  return mkdtempSync(join(tmpdir(), 'meshward-integ-'));
})();

export interface Server {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** The server's log so far, for failure messages. */
  log(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export function startServer(
  name: string,
  command: string,
  args: readonly string[],
  options: StartOptions = {},
): Server {
  const logFile = join(runDir, `${name}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: options.env ?? process.env,
    cwd: options.cwd ?? runDir,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name}: ${command}`);
  registerProcessGroup(pid);
  let exited = false;
  const exit = new Promise<void>((resolveExit) => {
    child.on('exit', () => {
      exited = true;
      resolveExit();
    });
  });
  return {
    name,
    pid,
    logFile,
    log: () => readFileSync(logFile, 'utf8'),
    exited: () => exited,
    async stop() {
      if (exited) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        killGroup(pid, 'SIGKILL');
      }, 15_000);
      await exit;
      clearTimeout(timer);
      killGroup(pid, 'SIGKILL');
    },
  };
}

/**
 * Lists a process group in `<run folder>/pgids`, for a server started by other means than
 * startServer (e.g. a browser server), so that run.sh kills it even if jest dies.
 */
export function registerProcessGroup(pgid: number): void {
  appendFileSync(join(runDir, 'pgids'), `${String(pgid)}\n`);
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * Polls `check` until it returns true; fails with the server's log tail when the server exits or
 * `timeoutMs` passes. Polling a readiness probe is how a test learns a server is up.
 */
export async function waitUntil(
  server: Server,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exited()) {
      throw new Error(`${server.name} exited before ${what}; log:\n${tail(server.log())}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${server.name}: not ${what} after ${String(timeoutMs)} ms; log:\n${tail(server.log())}`,
      );
    }
    await new Promise((resolveTick) => setTimeout(resolveTick, 250));
  }
}

/** A node service started from its entry point (relative to the repository) through tsx. */
export interface NodeService {
  readonly url: string;
  readonly server: Server;
  stop(): Promise<void>;
}

/**
 * Starts `entry` through tsx on a free loopback port (PORT), with PATH, LOG_LEVEL=warn and `env`
 * as its whole environment; ready when /readyz answers 200 within 90 s, else stopped and thrown.
 */
export async function startNodeService(
  name: string,
  entry: string,
  env: Readonly<Record<string, string>>,
): Promise<NodeService> {
  const port = await freePort();
  const server = startServer(name, process.execPath, ['--import', 'tsx', join(repoRoot, entry)], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    cwd: repoRoot,
  });
  const url = `http://127.0.0.1:${String(port)}`;
  try {
    await waitUntil(server, 'ready', async () => (await fetch(`${url}/readyz`)).ok, 90_000);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { url, server, stop: () => server.stop() };
}

export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

export interface CommandResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; never throws on a non-zero exit (tests assert on it). */
export function run(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): CommandResult {
  const result: SpawnSyncReturns<string> = spawnSync(command, args, {
    encoding: 'utf8',
    input: options.input,
    env: options.env ?? process.env,
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * The servers a test file started, stopped in reverse order by `stopAll`. Call that in afterAll:
 * it runs even when beforeAll failed halfway, and stops what had been started by then. Anything
 * with a `stop()` can be added, e.g. `{ stop: () => browser.close() }`.
 */
export class StartedServers {
  private readonly servers: Stoppable[] = [];

  add<T extends Stoppable>(server: T): T {
    this.servers.push(server);
    return server;
  }

  /** Stops every server, even when one of them throws; then rethrows the first error. */
  async stopAll(): Promise<void> {
    let failed: { error: unknown } | undefined;
    for (const server of this.servers.splice(0).reverse()) {
      try {
        await server.stop();
      } catch (error) {
        failed ??= { error };
      }
    }
    if (failed !== undefined) throw failed.error;
  }
}
