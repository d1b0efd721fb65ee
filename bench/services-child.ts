/**
 * One HTTP server for the services benchmark, on 127.0.0.1 and a free port:
 * `node --import tsx bench/services-child.ts <bare|mesh|verify|verify-uncached>`.
 *   mesh, verify  order-service as the harness starts it (silent logs, in-memory store)
 *   verify-uncached  verify mode with JWT_CACHE_SIZE=0: jose checks the signature every time
 *   bare          a plain Express app whose one handler returns BENCH_BODY as JSON
 * Reads BENCH_ISSUER, BENCH_AUDIENCE, BENCH_ROUTES (order-service's `meshward.io/routes`
 * from dist/), BENCH_JWKS_URI (verify), BENCH_BODY (bare).
 * Started with an IPC channel: sends `{ url }` once listening, answers any message with
 * its `process.cpuUsage()`, and exits when the channel closes (the benchmark ended or
 * died) or after BENCH_MAX_LIFETIME_MS (default 10 min), whichever comes first.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';

import { startLocalOrderService } from '../services/order-service/harness.js';

const kind = process.argv.at(2);
const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
};

async function start(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (kind === 'mesh' || kind === 'verify' || kind === 'verify-uncached') {
    const svc = await startLocalOrderService({
      authMode: kind === 'mesh' ? 'mesh' : 'verify',
      issuer: env('BENCH_ISSUER'),
      audience: env('BENCH_AUDIENCE'),
      routes: env('BENCH_ROUTES'),
      ...(kind === 'mesh' ? {} : { jwksUri: env('BENCH_JWKS_URI') }),
      ...(kind === 'verify-uncached' ? { jwtCacheSize: 0 } : {}),
    });
    return { url: svc.url, stop: () => svc.shutdown() };
  }
  if (kind === 'bare') {
    const body: unknown = JSON.parse(env('BENCH_BODY'));
    const app = express();
    // order-service turns ETags off too: both sides do the same response work.
    app.set('etag', false);
    app.get('/api/orders', (_req, res) => {
      res.json(body);
    });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => {
        resolve(s);
      });
    });
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      stop: () =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
          server.closeAllConnections();
        }),
    };
  }
  throw new Error(
    `usage: services-child.ts <bare|mesh|verify|verify-uncached> (got '${kind ?? ''}')`,
  );
}

const running = await start();
const exit = (): void => {
  running.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
if (process.send === undefined) throw new Error('services-child.ts needs an IPC channel');
const send = process.send.bind(process);
setTimeout(exit, Number(process.env.BENCH_MAX_LIFETIME_MS ?? 600_000)).unref();
process.once('disconnect', exit);
process.once('SIGTERM', exit);
process.on('message', () => {
  send({ cpu: process.cpuUsage() });
});
send({ url: running.url });
