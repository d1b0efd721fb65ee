import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { createOrderApp } from '../../services/order-service/app.js';
import type { PaymentClient } from '../../services/order-service/payment-client.js';
import { startServer } from '../../services/shared/server.js';
import type { Lifecycle } from '../../services/shared/web.js';
import { authConfig, createTestIssuer, gate, silentLogger } from './support.js';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code ?? 'error');
    });
  });
}

describe('server lifecycle', () => {
  test('graceful shutdown finishes the in-flight request, then refuses new connections', async () => {
    // GIVEN order-service on a real port whose payment call is held open by a gate
    const issuer = await createTestIssuer();
    const token = await issuer.mint({ sub: 'alice' });
    const paymentStarted = gate();
    const releasePayment = gate();
    const payments: PaymentClient = {
      async charge() {
        paymentStarted.open();
        await releasePayment.promise;
        return { paymentId: 'pay-1' };
      },
    };
    const lifecycle: Lifecycle = { ready: false, shuttingDown: false };
    const app = createOrderApp({
      config: {
        port: 0,
        logLevel: 'silent',
        auth: authConfig('verify'),
        paymentServiceUrl: new URL('http://127.0.0.1:9'),
      },
      logger: silentLogger,
      keySet: issuer.keySet,
      paymentClient: payments,
      lifecycle,
    });
    const running = await startServer({
      app,
      logger: silentLogger,
      lifecycle,
      port: 0,
      host: '127.0.0.1',
    });
    expect((await send(running.port, { path: '/readyz' })).status).toBe(200);

    // WHEN a slow request is in flight and shutdown begins
    const slow = send(running.port, {
      method: 'POST',
      path: '/api/orders',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ sku: 'MW-MUG', quantity: 1 }] }),
    });
    await paymentStarted.promise;
    let stopped = false;
    const shutdown = running.shutdown().then(() => {
      stopped = true;
    });

    // THEN new connections are refused while the in-flight request is still open
    expect(await tryConnect(running.port)).toBe('ECONNREFUSED');
    expect(lifecycle.shuttingDown).toBe(true);
    expect(stopped).toBe(false);

    // AND the in-flight request completes successfully, after which shutdown resolves
    releasePayment.open();
    const res = await slow;
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body)).toMatchObject({ paymentId: 'pay-1', status: 'paid' });
    expect(res.headers.connection).toBe('close');
    await shutdown;
    expect(stopped).toBe(true);
  });

  test('readiness turns 503 once shutdown starts while liveness stays 200', async () => {
    const issuer = await createTestIssuer();
    const lifecycle: Lifecycle = { ready: false, shuttingDown: false };
    const app = createOrderApp({
      config: {
        port: 0,
        logLevel: 'silent',
        auth: authConfig('mesh'),
        paymentServiceUrl: new URL('http://127.0.0.1:9'),
      },
      logger: silentLogger,
      keySet: issuer.keySet,
      lifecycle,
    });
    const { default: request } = await import('supertest');
    await request(app).get('/readyz').expect(503);
    const running = await startServer({
      app,
      logger: silentLogger,
      lifecycle,
      port: 0,
      host: '127.0.0.1',
    });
    await request(app).get('/readyz').expect(200);
    const done = running.shutdown();
    await request(app).get('/readyz').expect(503, { status: 'not_ready' });
    await request(app).get('/healthz').expect(200);
    await done;
  });

  test('rejects oversized headers with 431 JSON, and keeps serving', async () => {
    const issuer = await createTestIssuer();
    const lifecycle: Lifecycle = { ready: false, shuttingDown: false };
    const app = createOrderApp({
      config: {
        port: 0,
        logLevel: 'silent',
        auth: authConfig('verify'),
        paymentServiceUrl: new URL('http://127.0.0.1:9'),
      },
      logger: silentLogger,
      keySet: issuer.keySet,
      lifecycle,
    });
    const running = await startServer({
      app,
      logger: silentLogger,
      lifecycle,
      port: 0,
      host: '127.0.0.1',
    });
    try {
      const res = await send(running.port, {
        path: '/api/public/catalog',
        headers: { 'x-big': 'a'.repeat(20_000) },
      });
      expect(res.status).toBe(431);
      expect(JSON.parse(res.body)).toEqual({
        error: {
          code: 'request_header_fields_too_large',
          message: 'malformed or oversized request',
        },
      });
      expect((await send(running.port, { path: '/api/public/catalog' })).status).toBe(200);
    } finally {
      await running.shutdown();
    }
  });
});
