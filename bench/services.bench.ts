/**
 * Services: requests/s and p50/p99 latency of `GET /api/orders` on order-service in
 * `mesh` mode (decode only) and in `verify` mode (jose verifies the token against a
 * JWKS), against a bare Express handler returning the same JSON. Load from autocannon,
 * on 127.0.0.1 only, for a fixed time per round.
 *
 * The load repeats one token, as one user's session does, so `verify` mode as shipped
 * answers most requests from its verified-token cache (JWT_CACHE_SIZE, default 1000);
 * the targets apply to the modes as shipped. `verify, uncached` (JWT_CACHE_SIZE=0) is
 * reported beside them without a target: the cost of a signature check on every
 * request, i.e. the worst case where every request carries a token not seen before.
 *
 * Each server runs in its own child process and autocannon runs here: in one process
 * the load generator (itself CPU-bound JavaScript) and the server would share one event
 * loop and the figure would measure both; this way, on 2 cores, each gets a core, as
 * in production where load comes from elsewhere, and all four servers are started
 * the same way (same Node, same tsx loader), so the comparison stays symmetric.
 *
 * Side by side, in GENERATIONS of fresh server processes: each generation starts the four
 * servers, warms each up (JIT, and the JWKS fetch in verify mode), then runs ROUNDS short
 * rounds of bare, mesh, verify, verify-uncached back to back, the order reversed every
 * other round so that drift during a round favours no side (ABBA). Fresh processes per
 * generation because one process's speed depends on its luck with the JIT and the heap
 * layout: two identical servers started side by side differ by 5-10% in CPU per request
 * for their whole life, which one process per kind would take for a difference between
 * the kinds. Many short rounds rather than a few long ones: the machine's speed swings by
 * ±20% within seconds, and the median of more paired ratios is steadier. Absolute figures
 * are medians over all rounds; ratios are medians of the per-round ratios, so drift on a
 * shared machine hits both sides of a ratio alike. Each server also reports the CPU time
 * it spent per request: less noisy than requests/s on a shared machine, it shows where
 * the difference comes from.
 *
 * order-service enforces its route intent as deployed (the `meshward.io/routes` annotation
 * of its Deployment in dist/shop.yaml), so every request also passes the route guard.
 *
 * Tokens are RS256 (Keycloak's default) for the realm's issuer and audience, signed
 * with the unit tests' throwaway key pair, whose JWKS this process serves on loopback.
 * Run alone: `npx tsx bench/services.bench.ts` (exit 1 under target).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

import { SHOP_AUDIENCE, SHOP_ISSUER } from '../policies/realm.js';
import { CATALOG } from '../services/order-service/catalog.js';
import { createTestIssuer, distRoutes } from '../test/services/support.js';

import { median, pairedRatio, type Row, runAlone } from './table.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GENERATIONS = 3;
const ROUNDS = 3;
const ROUND_SECONDS = 2;
const WARMUP_SECONDS = 2;
const CONNECTIONS = 10;
/** Orders stored for the caller, so the handler lists and serializes something. */
const SEEDED_ORDERS = 3;
export const MESH_TARGET = 0.85;
export const VERIFY_TARGET = 0.6;

type Kind = 'bare' | 'mesh' | 'verify' | 'verify-uncached';

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU time per request, µs. */
  cpu: number;
}

interface ChildServer {
  readonly url: string;
  /** CPU time the server process has used so far, in microseconds. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

async function startChild(kind: Kind, env: Record<string, string>): Promise<ChildServer> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'bench/services-child.ts', kind],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, ...env },
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const next = <T>(what: string, pick: (m: Record<string, unknown>) => T | undefined) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${kind} server: no ${what} in 30 s: ${stderr}`));
      }, 30_000);
      const onMessage = (m: unknown) => {
        const v =
          typeof m === 'object' && m !== null ? pick(m as Record<string, unknown>) : undefined;
        if (v === undefined) return;
        done();
        resolve(v);
      };
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`${kind} server exited (${String(code)}): ${stderr}`));
      };
      const done = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const url = await next('url', (m) => (typeof m.url === 'string' ? m.url : undefined)).catch(
    async (err: unknown) => {
      await stop();
      throw err;
    },
  );
  return {
    url,
    stop,
    cpuMicros: () => {
      const reply = next('cpu usage', (m) => m.cpu as NodeJS.CpuUsage | undefined);
      child.send('cpu');
      return reply.then((c) => c.user + c.system);
    },
  };
}

/** A JWKS endpoint on loopback for the verify-mode service, and a token signed with its key. */
async function issuer(): Promise<{ jwksUri: string; token: string; server: Server }> {
  const keys = await createTestIssuer();
  const jwks = JSON.stringify(keys.jwks);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const token = await keys.mint(
    { sub: 'bench-user', iss: SHOP_ISSUER, aud: SHOP_AUDIENCE },
    { expiresIn: '1h' },
  );
  return { jwksUri: `http://127.0.0.1:${port}/certs`, token, server };
}

async function seed(url: string, token: string): Promise<string> {
  for (let i = 0; i < SEEDED_ORDERS; i++) {
    const items = CATALOG.slice(0, 1 + (i % CATALOG.length)).map((c, j) => ({
      sku: c.sku,
      quantity: j + 1,
    }));
    const res = await fetch(`${url}/api/orders`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'idempotency-key': `bench-order-${i}`,
      },
      body: JSON.stringify({ items }),
    });
    if (res.status !== 201)
      throw new Error(`seeding ${url} failed: ${res.status} ${await res.text()}`);
  }
  const res = await fetch(`${url}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`GET ${url}/api/orders: ${res.status}`);
  return res.text();
}

async function load(server: ChildServer, token: string, seconds: number): Promise<Sample> {
  const cpuBefore = await server.cpuMicros();
  const r = await autocannon({
    url: `${server.url}/api/orders`,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${token}` },
  });
  const cpu = (await server.cpuMicros()) - cpuBefore;
  if (r.errors > 0 || r.non2xx > 0) {
    throw new Error(`${server.url}: ${r.errors} errors, ${r.non2xx} non-2xx answers under load`);
  }
  return {
    rps: r.requests.total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    cpu: cpu / r.requests.total,
  };
}

const fmtRps = (n: number) => `${Math.round(n).toLocaleString('en-US')} req/s`;
const fmtMs = (a: number, b: number) => `${a.toFixed(1)} / ${b.toFixed(1)} ms`;
const fmtUs = (us: number) => `${us.toFixed(0)} µs`;

function rowsFor(
  label: string,
  target: number | undefined,
  s: readonly Sample[],
  bare: readonly Sample[],
): Row[] {
  const rps = pairedRatio(
    s.map((x) => x.rps),
    bare.map((x) => x.rps),
  );
  const p99 = pairedRatio(
    s.map((x) => x.p99),
    bare.map((x) => x.p99),
  );
  const cpu = pairedRatio(
    s.map((x) => x.cpu),
    bare.map((x) => x.cpu),
  );
  return [
    {
      section: 'services',
      figure: `${label}: GET /api/orders throughput`,
      value: fmtRps(median(s.map((x) => x.rps))),
      baseline: fmtRps(median(bare.map((x) => x.rps))),
      ratio: rps,
      target: target === undefined ? 'report' : `≥ ${target.toFixed(2)}×`,
      ok: target === undefined || rps >= target,
    },
    {
      section: 'services',
      figure: `${label}: p50 / p99 latency (ratio: p99)`,
      value: fmtMs(median(s.map((x) => x.p50)), median(s.map((x) => x.p99))),
      baseline: fmtMs(median(bare.map((x) => x.p50)), median(bare.map((x) => x.p99))),
      ratio: p99,
      target: 'report',
      ok: true,
    },
    {
      section: 'services',
      figure: `${label}: server CPU per request`,
      value: fmtUs(median(s.map((x) => x.cpu))),
      baseline: fmtUs(median(bare.map((x) => x.cpu))),
      ratio: cpu,
      target: 'report',
      ok: true,
    },
  ];
}

export interface ServicesBenchOptions {
  /** Sets of fresh server processes. @default 3 */
  readonly generations?: number;
  /** Measured rounds per generation. @default 3 */
  readonly rounds?: number;
  /** Seconds of load per round. @default 2 */
  readonly seconds?: number;
}

const KINDS: readonly Kind[] = ['bare', 'mesh', 'verify', 'verify-uncached'];

/**
 * Starts the four servers (seeded, the bare one answering the seeded body), runs `measure`,
 * and stops them whatever happens.
 */
async function withServers<T>(
  env: Record<string, string>,
  token: string,
  measure: (servers: Record<Kind, ChildServer>) => Promise<T>,
): Promise<T> {
  const started: ChildServer[] = [];
  const start = async (kind: Kind, extra: Record<string, string> = {}) => {
    const server = await startChild(kind, { ...env, ...extra });
    started.push(server);
    return server;
  };
  try {
    const mesh = await start('mesh');
    const verify = await start('verify');
    const uncached = await start('verify-uncached');
    const body = await seed(mesh.url, token);
    await seed(verify.url, token);
    await seed(uncached.url, token);
    const bare = await start('bare', { BENCH_BODY: body });
    const check = await fetch(`${bare.url}/api/orders`);
    if ((await check.text()) !== body) throw new Error('bare body differs');
    return await measure({ bare, mesh, verify, 'verify-uncached': uncached });
  } finally {
    await Promise.all(started.map((s) => s.stop()));
  }
}

export async function benchServices(options: ServicesBenchOptions = {}): Promise<Row[]> {
  const generations = options.generations ?? GENERATIONS;
  const rounds = options.rounds ?? ROUNDS;
  const seconds = options.seconds ?? ROUND_SECONDS;
  const { jwksUri, token, server } = await issuer();
  const env = {
    BENCH_ISSUER: SHOP_ISSUER,
    BENCH_AUDIENCE: SHOP_AUDIENCE,
    BENCH_ROUTES: distRoutes('order-service'),
    BENCH_JWKS_URI: jwksUri,
  };
  const samples: Record<Kind, Sample[]> = {
    bare: [],
    mesh: [],
    verify: [],
    'verify-uncached': [],
  };
  try {
    for (let generation = 1; generation <= generations; generation++) {
      await withServers(env, token, async (servers) => {
        for (const k of KINDS) await load(servers[k], token, WARMUP_SECONDS);
        for (let round = 1; round <= rounds; round++) {
          const order = samples.bare.length % 2 === 0 ? KINDS : [...KINDS].reverse();
          for (const k of order) samples[k].push(await load(servers[k], token, seconds));
          const line = KINDS.map((k) => `${k} ${fmtRps(samples[k].at(-1)?.rps ?? NaN)}`).join(', ');
          console.error(
            `  processes ${generation}/${generations}, round ${round}/${rounds}: ${line}`,
          );
        }
      });
    }
  } finally {
    server.close();
  }
  const measured = `${CONNECTIONS} connections, ${generations}×${rounds}×${seconds} s`;
  return [
    {
      section: 'services',
      figure: `bare Express: GET /api/orders (${measured})`,
      value: `${fmtRps(median(samples.bare.map((x) => x.rps)))}, p50 / p99 ${fmtMs(
        median(samples.bare.map((x) => x.p50)),
        median(samples.bare.map((x) => x.p99)),
      )}`,
      baseline: '',
      ratio: NaN,
      target: 'baseline',
      ok: true,
    },
    ...rowsFor('mesh mode', MESH_TARGET, samples.mesh, samples.bare),
    ...rowsFor('verify mode', VERIFY_TARGET, samples.verify, samples.bare),
    ...rowsFor('verify mode, uncached', undefined, samples['verify-uncached'], samples.bare),
  ];
}

if (fileURLToPath(import.meta.url) === process.argv.at(1)) runAlone(await benchServices());
