import request from 'supertest';
import { createOrderApp } from '../../services/order-service/app.js';
import type { OrderServiceConfig } from '../../services/order-service/config.js';
import type { ChargeRequest, PaymentClient } from '../../services/order-service/payment-client.js';
import { InMemoryOrderRepository } from '../../services/order-service/repository.js';
import { createPaymentApp } from '../../services/payment-service/app.js';
import { InMemoryPaymentRepository } from '../../services/payment-service/repository.js';
import type { RunningServer } from '../../services/shared/server.js';
import { startServer } from '../../services/shared/server.js';
import { authConfig, createTestIssuer, silentLogger } from './support.js';
import type { TestIssuer } from './support.js';

function orderConfig(
  mode: 'mesh' | 'verify',
  paymentUrl = 'http://127.0.0.1:9',
): OrderServiceConfig {
  return {
    port: 0,
    logLevel: 'silent',
    auth: authConfig(mode),
    paymentServiceUrl: new URL(paymentUrl),
  };
}

/** Records charges instead of calling payment-service. */
function recordingPayments(): PaymentClient & {
  calls: { request: ChargeRequest; token: string; idempotencyKey: string }[];
} {
  const calls: { request: ChargeRequest; token: string; idempotencyKey: string }[] = [];
  return {
    calls,
    charge(req, ctx) {
      calls.push({ request: req, token: ctx.token, idempotencyKey: ctx.idempotencyKey });
      return Promise.resolve({ paymentId: `pay-${calls.length}` });
    },
  };
}

const ORDER = { items: [{ sku: 'MW-MUG', quantity: 2 }] };

describe('order-service', () => {
  let issuer: TestIssuer;
  let alice: string;
  let bob: string;
  let admin: string;
  beforeAll(async () => {
    issuer = await createTestIssuer();
    alice = await issuer.mint({ sub: 'alice' });
    bob = await issuer.mint({ sub: 'bob' });
    admin = await issuer.mint({
      sub: 'root',
      realm_access: { roles: ['USER', 'ADMIN'] },
      scope: 'openid orders admin:read',
    });
  });

  function app(
    payments: PaymentClient = recordingPayments(),
    repository = new InMemoryOrderRepository(),
  ) {
    return createOrderApp({
      config: orderConfig('verify'),
      logger: silentLogger,
      keySet: issuer.keySet,
      paymentClient: payments,
      repository,
    });
  }

  test('serves health, readiness and the public catalog without a token', async () => {
    const a = app();
    await request(a).get('/healthz').expect(200, { status: 'ok' });
    await request(a).get('/readyz').expect(200, { status: 'ready' });
    const res = await request(a).get('/api/public/catalog').expect(200);
    expect(res.body.items.length).toBeGreaterThan(0);
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('creates an order, charges it with the caller token and lists it for its owner only', async () => {
    // GIVEN a recording payment client
    const payments = recordingPayments();
    const a = app(payments);
    // WHEN alice orders
    const created = await request(a)
      .post('/api/orders')
      .set('authorization', `Bearer ${alice}`)
      .send(ORDER)
      .expect(201);
    // THEN the charge carries alice's token and an idempotency key, with the catalog price
    expect(payments.calls).toHaveLength(1);
    expect(payments.calls[0]?.token).toBe(alice);
    expect(payments.calls[0]?.idempotencyKey).toBe(`order-${created.body.id}`);
    expect(payments.calls[0]?.request).toEqual({
      orderId: created.body.id,
      amountCents: 2400,
      currency: 'EUR',
    });
    expect(created.headers.location).toBe(`/api/orders/${created.body.id}`);
    // AND only alice sees it in her list
    const mine = await request(a)
      .get('/api/orders')
      .set('authorization', `Bearer ${alice}`)
      .expect(200);
    expect(mine.body.orders.map((o: { id: string }) => o.id)).toEqual([created.body.id]);
    const bobs = await request(a)
      .get('/api/orders')
      .set('authorization', `Bearer ${bob}`)
      .expect(200);
    expect(bobs.body.orders).toEqual([]);
  });

  test("answers 404 (not 403) for another user's order and lets owner and ADMIN read and delete", async () => {
    const a = app();
    const { body } = await request(a)
      .post('/api/orders')
      .set('authorization', `Bearer ${alice}`)
      .send(ORDER)
      .expect(201);
    const path = `/api/orders/${body.id as string}`;
    // WHEN bob reads or deletes alice's order THEN 404, same as a missing one
    const forbidden = await request(a).get(path).set('authorization', `Bearer ${bob}`).expect(404);
    expect(forbidden.body.error.code).toBe('not_found');
    await request(a).delete(path).set('authorization', `Bearer ${bob}`).expect(404);
    await request(a)
      .get('/api/orders/00000000-0000-4000-8000-000000000000')
      .set('authorization', `Bearer ${alice}`)
      .expect(404);
    // AND the owner and an ADMIN can read it; the ADMIN can delete it
    await request(a).get(path).set('authorization', `Bearer ${alice}`).expect(200);
    await request(a).get(path).set('authorization', `Bearer ${admin}`).expect(200);
    await request(a).delete(path).set('authorization', `Bearer ${admin}`).expect(204);
    await request(a).get(path).set('authorization', `Bearer ${alice}`).expect(404);
  });

  test('serves all orders and admin stats to an ADMIN with the admin:read scope', async () => {
    const a = app();
    await request(a)
      .post('/api/orders')
      .set('authorization', `Bearer ${alice}`)
      .send(ORDER)
      .expect(201);
    await request(a)
      .post('/api/orders')
      .set('authorization', `Bearer ${bob}`)
      .send(ORDER)
      .expect(201);
    const all = await request(a)
      .get('/api/orders/admin/all')
      .set('authorization', `Bearer ${admin}`)
      .expect(200);
    expect(all.body.orders).toHaveLength(2);
    const stats = await request(a)
      .get('/api/admin/stats')
      .set('authorization', `Bearer ${admin}`)
      .expect(200);
    expect(stats.body).toEqual({ currency: 'EUR', orders: 2, customers: 2, revenueCents: 4800 });
  });

  test('an unexpected charge failure answers 500 without details and stores nothing', async () => {
    const repository = new InMemoryOrderRepository();
    const failing: PaymentClient = { charge: () => Promise.reject(new Error('boom')) };
    const res = await request(app(failing, repository))
      .post('/api/orders')
      .set('authorization', `Bearer ${alice}`)
      .send(ORDER);
    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      error: { code: 'internal', message: 'internal error', requestId: expect.any(String) },
    });
    expect(JSON.stringify(res.body)).not.toContain('boom');
    expect(await repository.listAll()).toEqual([]);
  });

  describe.each(['verify', 'mesh'] as const)(
    'enforces its route intent from dist/ in %s mode',
    (mode) => {
      let aliceAdminScope: string;
      let adminNoScope: string;
      beforeAll(async () => {
        aliceAdminScope = await issuer.mint({ sub: 'alice', scope: 'openid orders admin:read' });
        adminNoScope = await issuer.mint({
          sub: 'root',
          realm_access: { roles: ['USER', 'ADMIN'] },
          scope: 'openid orders',
        });
      });
      const guarded = () =>
        createOrderApp({
          config: orderConfig(mode),
          logger: silentLogger,
          keySet: issuer.keySet,
          paymentClient: recordingPayments(),
        });
      const get = (path: string, token: string) =>
        request(guarded()).get(path).set('authorization', `Bearer ${token}`);

      test.each(['/api/admin/stats', '/api/orders/admin/all'])(
        'rejects a USER-only token on GET %s with 403, even when its scope holds admin:read',
        async (path) => {
          for (const token of [alice, aliceAdminScope]) {
            const res = await get(path, token).expect(403);
            expect(res.body.error.code).toBe('forbidden');
            expect(JSON.stringify(res.body)).not.toMatch(/ADMIN|admin:read|realm_access/);
          }
        },
      );

      test('GIVEN roles USER and ADMIN and the admin:read scope WHEN GET /api/orders/admin/all THEN 200', async () => {
        const res = await get('/api/orders/admin/all', admin).expect(200);
        expect(res.body).toEqual({ orders: [] });
      });

      test('rejects roles USER and ADMIN without the admin:read scope on GET /api/orders/admin/all with 403', async () => {
        const res = await get('/api/orders/admin/all', adminNoScope).expect(403);
        expect(res.body.error.code).toBe('forbidden');
        // the same token still reads the stats: /api/admin/* asks for the role only
        await get('/api/admin/stats', adminNoScope).expect(200);
      });

      test('GIVEN a USER token WHEN GET /api/orders THEN 200 with its orders', async () => {
        const res = await get('/api/orders', alice).expect(200);
        expect(res.body).toEqual({ orders: [] });
      });
    },
  );

  describe('bad input answers 4xx JSON, never 5xx, and writes nothing', () => {
    const big = { items: [{ sku: 'MW-MUG', quantity: 1 }], pad: 'x'.repeat(20_000) };
    const cases: [
      string,
      (a: ReturnType<typeof app>, token: string) => request.Test,
      number,
      string,
    ][] = [
      [
        'malformed JSON',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .set('content-type', 'application/json')
            .send('{"items": ['),
        400,
        'invalid_json',
      ],
      [
        'a wrong content type',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .set('content-type', 'text/plain')
            .send(JSON.stringify(ORDER)),
        415,
        'unsupported_media_type',
      ],
      [
        'a form body',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .type('form')
            .send('items=1'),
        415,
        'unsupported_media_type',
      ],
      [
        'a body over the limit',
        (a, t) => request(a).post('/api/orders').set('authorization', `Bearer ${t}`).send(big),
        413,
        'payload_too_large',
      ],
      [
        'a JSON array body',
        (a, t) => request(a).post('/api/orders').set('authorization', `Bearer ${t}`).send([ORDER]),
        400,
        'invalid_request',
      ],
      [
        'a JSON string body',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .set('content-type', 'application/json')
            .send('"x"'),
        400,
        'invalid_json',
      ],
      [
        'missing items',
        (a, t) => request(a).post('/api/orders').set('authorization', `Bearer ${t}`).send({}),
        400,
        'invalid_request',
      ],
      [
        'empty items',
        (a, t) =>
          request(a).post('/api/orders').set('authorization', `Bearer ${t}`).send({ items: [] }),
        400,
        'invalid_request',
      ],
      [
        'an unknown sku',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .send({ items: [{ sku: 'NOPE', quantity: 1 }] }),
        400,
        'invalid_request',
      ],
      [
        'a negative quantity',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .send({ items: [{ sku: 'MW-MUG', quantity: -1 }] }),
        400,
        'invalid_request',
      ],
      [
        'a fractional quantity',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .send({ items: [{ sku: 'MW-MUG', quantity: 1.5 }] }),
        400,
        'invalid_request',
      ],
      [
        'a string quantity',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .send({ items: [{ sku: 'MW-MUG', quantity: '1' }] }),
        400,
        'invalid_request',
      ],
      [
        'an unknown field',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .send({ ...ORDER, owner: 'bob' }),
        400,
        'invalid_request',
      ],
      [
        'a __proto__ field',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .set('content-type', 'application/json')
            .send('{"items":[{"sku":"MW-MUG","quantity":1}],"__proto__":{"admin":true}}'),
        400,
        'invalid_request',
      ],
      [
        'a bad Idempotency-Key',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .set('idempotency-key', 'a b')
            .send(ORDER),
        400,
        'invalid_idempotency_key',
      ],
      [
        'an unsupported charset',
        (a, t) =>
          request(a)
            .post('/api/orders')
            .set('authorization', `Bearer ${t}`)
            .set('content-type', 'application/json; charset=latin9')
            .send('{}'),
        415,
        'unsupported_charset',
      ],
      [
        'an unknown route',
        (a, t) => request(a).get('/api/nope').set('authorization', `Bearer ${t}`),
        404,
        'not_found',
      ],
      ['an unknown public route', (a) => request(a).get('/api/public/secrets'), 404, 'not_found'],
      [
        'mixed-case /API/ADMIN/stats',
        (a, t) => request(a).get('/API/ADMIN/stats').set('authorization', `Bearer ${t}`),
        404,
        'not_found',
      ],
      [
        'mixed-case /api/Orders',
        (a, t) => request(a).get('/api/Orders').set('authorization', `Bearer ${t}`),
        404,
        'not_found',
      ],
      [
        'a trailing slash',
        (a, t) => request(a).get('/api/admin/stats/').set('authorization', `Bearer ${t}`),
        404,
        'not_found',
      ],
      [
        'a double slash',
        (a, t) => request(a).get('/api//admin/stats').set('authorization', `Bearer ${t}`),
        400,
        'invalid_path',
      ],
      [
        'an encoded slash',
        (a, t) => request(a).get('/api/admin%2Fstats').set('authorization', `Bearer ${t}`),
        400,
        'invalid_path',
      ],
      [
        'an encoded slash in an id',
        (a, t) => request(a).get('/api/orders/..%2fadmin').set('authorization', `Bearer ${t}`),
        400,
        'invalid_path',
      ],
      [
        'a dot-dot segment',
        (a, t) => request(a).get('/api/public/../admin/stats').set('authorization', `Bearer ${t}`),
        400,
        'invalid_path',
      ],
      [
        'an encoded dot-dot',
        (a, t) =>
          request(a).get('/api/public/%2e%2e/admin/stats').set('authorization', `Bearer ${t}`),
        400,
        'invalid_path',
      ],
      [
        'an encoded backslash',
        (a, t) => request(a).get('/api/public%5C..%5Cadmin').set('authorization', `Bearer ${t}`),
        400,
        'invalid_path',
      ],
      [
        'a non-uuid order id',
        (a, t) => request(a).get('/api/orders/1 OR 1=1').set('authorization', `Bearer ${t}`),
        404,
        'not_found',
      ],
      [
        // Envoy's `{*}` takes no `[`: the route guard refuses what the mesh refuses
        'an order id with [ in it',
        (a, t) => request(a).get('/api/orders/1[0]').set('authorization', `Bearer ${t}`),
        403,
        'forbidden',
      ],
      ['no token', (a) => request(a).get('/api/orders'), 401, 'unauthorized'],
      ['no token on POST', (a) => request(a).post('/api/orders').send(ORDER), 401, 'unauthorized'],
      [
        'a garbage token',
        (a) => request(a).get('/api/orders').set('authorization', 'Bearer abc.def.ghi'),
        401,
        'unauthorized',
      ],
    ];

    test.each(cases)('rejects %s', async (_name, send, status, code) => {
      const payments = recordingPayments();
      const repository = new InMemoryOrderRepository();
      const res = await send(app(payments, repository), alice);
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.requestId).toEqual(expect.any(String));
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+/);
      expect(payments.calls).toHaveLength(0);
      expect(await repository.listAll()).toEqual([]);
    });
  });

  describe('JWT propagation to a real payment-service on loopback', () => {
    let payment: RunningServer;
    let paymentRepo: InMemoryPaymentRepository;
    let seenAuthorization: (string | undefined)[];

    beforeAll(async () => {
      paymentRepo = new InMemoryPaymentRepository();
      seenAuthorization = [];
      const paymentApp = createPaymentApp({
        config: { port: 0, logLevel: 'silent', auth: authConfig('verify', 'payment-service') },
        logger: silentLogger,
        keySet: issuer.keySet,
        repository: paymentRepo,
      });
      paymentApp.set('trust proxy', false);
      const lifecycle = { ready: false, shuttingDown: false };
      const spy = (
        req: { headers: Record<string, string | string[] | undefined> },
        _res: unknown,
        next: () => void,
      ) => {
        seenAuthorization.push(req.headers.authorization as string | undefined);
        next();
      };
      const { default: express } = await import('express');
      const outer = express();
      outer.use(spy);
      outer.use(paymentApp);
      payment = await startServer({
        app: outer,
        logger: silentLogger,
        lifecycle,
        port: 0,
        host: '127.0.0.1',
      });
    });
    afterAll(async () => {
      await payment.shutdown();
    });

    test('order → payment carries the user token, and payment-service verifies it and records the user as owner', async () => {
      // GIVEN order-service wired to payment-service over HTTP
      const a = createOrderApp({
        config: orderConfig('verify', `http://127.0.0.1:${payment.port}`),
        logger: silentLogger,
        keySet: issuer.keySet,
      });
      // WHEN alice orders
      const res = await request(a)
        .post('/api/orders')
        .set('authorization', `Bearer ${alice}`)
        .set('x-request-id', 'req-123')
        .send(ORDER)
        .expect(201);
      // THEN payment-service saw alice's exact token, and the payment belongs to alice
      expect(seenAuthorization).toEqual([`Bearer ${alice}`]);
      const pay = await request(`http://127.0.0.1:${payment.port}`)
        .get(`/api/payments/${res.body.paymentId as string}`)
        .set('authorization', `Bearer ${alice}`)
        .expect(200);
      expect(pay.body).toMatchObject({
        orderId: res.body.id,
        amountCents: 2400,
        status: 'authorized',
      });
      // AND bob cannot see alice's payment
      await request(`http://127.0.0.1:${payment.port}`)
        .get(`/api/payments/${res.body.paymentId as string}`)
        .set('authorization', `Bearer ${bob}`)
        .expect(404);
    });

    test('an order retried with the same Idempotency-Key is charged once; a different order with it is a 409', async () => {
      const a = createOrderApp({
        config: orderConfig('verify', `http://127.0.0.1:${payment.port}`),
        logger: silentLogger,
        keySet: issuer.keySet,
      });
      const before = paymentRepo.count();
      const send = (body: object) =>
        request(a)
          .post('/api/orders')
          .set('authorization', `Bearer ${bob}`)
          .set('idempotency-key', 'retry-key-0001')
          .send(body);
      // WHEN bob's client retries the same order with the same key
      const first = await send(ORDER).expect(201);
      const retry = await send(ORDER).expect(201);
      // THEN it is the same order and the same single payment
      expect(retry.body.id).toBe(first.body.id);
      expect(retry.body.paymentId).toBe(first.body.paymentId);
      expect(paymentRepo.count()).toBe(before + 1);
      // AND reusing the key for a different order is a 409, with no new charge
      const conflict = await send({ items: [{ sku: 'MW-TEE', quantity: 1 }] }).expect(409);
      expect(conflict.body.error.code).toBe('idempotency_key_reused');
      expect(paymentRepo.count()).toBe(before + 1);
    });

    test('rejects a replay with other items of the same total with 409, and keeps the first order (red-team L6)', async () => {
      const a = createOrderApp({
        config: orderConfig('verify', `http://127.0.0.1:${payment.port}`),
        logger: silentLogger,
        keySet: issuer.keySet,
      });
      const send = (body: object) =>
        request(a)
          .post('/api/orders')
          .set('authorization', `Bearer ${bob}`)
          .set('idempotency-key', 'same-total-0001')
          .send(body);
      // GIVEN an order of 4 tees (4 × 2500) and one of 25 stickers (25 × 400) cost the same
      const tees = { items: [{ sku: 'MW-TEE', quantity: 4 }] };
      const stickers = { items: [{ sku: 'MW-STICKER', quantity: 25 }] };
      const first = await send(stickers).expect(201);
      // WHEN the key is replayed with the tees
      const replay = await send(tees).expect(409);
      const same = await send(stickers).expect(201);
      const stored = await request(a)
        .get(`/api/orders/${first.body.id as string}`)
        .set('authorization', `Bearer ${bob}`)
        .expect(200);
      // THEN the replay is refused and the first order is what is stored
      expect(replay.body.error.code).toBe('idempotency_key_reused');
      expect(first.body.totalCents).toBe(10000);
      expect(stored.body.items).toEqual(stickers.items);
      expect(same.headers['idempotent-replayed']).toBe('true');
      expect(same.body.paymentId).toBe(first.body.paymentId);
    });
  });
});
