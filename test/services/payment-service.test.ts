import request from 'supertest';
import { createPaymentApp } from '../../services/payment-service/app.js';
import { InMemoryPaymentRepository } from '../../services/payment-service/repository.js';
import { authConfig, createTestIssuer, silentLogger } from './support.js';
import type { TestIssuer } from './support.js';

const PAYMENT = { orderId: 'order-1', amountCents: 2400, currency: 'EUR' };

describe('payment-service', () => {
  let issuer: TestIssuer;
  let alice: string;
  let bob: string;
  beforeAll(async () => {
    issuer = await createTestIssuer();
    alice = await issuer.mint({ sub: 'alice' });
    bob = await issuer.mint({ sub: 'bob' });
  });

  function app(repository = new InMemoryPaymentRepository()) {
    return createPaymentApp({
      config: { port: 0, logLevel: 'silent', auth: authConfig('verify', 'payment-service') },
      logger: silentLogger,
      keySet: issuer.keySet,
      repository,
    });
  }

  test('concurrent duplicates with one Idempotency-Key create exactly one payment', async () => {
    // GIVEN one repository WHEN 20 identical requests race
    const repository = new InMemoryPaymentRepository();
    const a = app(repository);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        request(a)
          .post('/api/payments')
          .set('authorization', `Bearer ${alice}`)
          .set('idempotency-key', 'key-000000001')
          .send(PAYMENT),
      ),
    );
    // THEN one 201, nineteen 200 replays, all with the same payment id, one stored payment
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(19);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    expect(responses.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(19);
    expect(repository.count()).toBe(1);
  });

  test('the same key from another caller is a separate payment', async () => {
    const repository = new InMemoryPaymentRepository();
    const a = app(repository);
    const one = await request(a)
      .post('/api/payments')
      .set('authorization', `Bearer ${alice}`)
      .set('idempotency-key', 'key-000000002')
      .send(PAYMENT)
      .expect(201);
    const two = await request(a)
      .post('/api/payments')
      .set('authorization', `Bearer ${bob}`)
      .set('idempotency-key', 'key-000000002')
      .send(PAYMENT)
      .expect(201);
    expect(one.body.id).not.toBe(two.body.id);
    expect(repository.count()).toBe(2);
  });

  test('rejects a reused key with a different request with 409 and no second charge', async () => {
    const repository = new InMemoryPaymentRepository();
    const a = app(repository);
    await request(a)
      .post('/api/payments')
      .set('authorization', `Bearer ${alice}`)
      .set('idempotency-key', 'key-000000003')
      .send(PAYMENT)
      .expect(201);
    const res = await request(a)
      .post('/api/payments')
      .set('authorization', `Bearer ${alice}`)
      .set('idempotency-key', 'key-000000003')
      .send({ ...PAYMENT, amountCents: 1 })
      .expect(409);
    expect(res.body.error.code).toBe('idempotency_key_reused');
    expect(repository.count()).toBe(1);
  });

  test('reconcile settles authorized payments', async () => {
    const a = app();
    const created = await request(a)
      .post('/api/payments')
      .set('authorization', `Bearer ${alice}`)
      .set('idempotency-key', 'key-000000004')
      .send(PAYMENT)
      .expect(201);
    const reconciler = await issuer.mint({
      sub: 'service-account-payment-reconciler',
      azp: 'payment-reconciler',
      realm_access: { roles: [] },
    });
    await request(a)
      .post('/api/internal/reconcile')
      .set('authorization', `Bearer ${reconciler}`)
      .expect(200, { checked: 1, settled: 1 });
    const after = await request(a)
      .get(`/api/payments/${created.body.id as string}`)
      .set('authorization', `Bearer ${alice}`)
      .expect(200);
    expect(after.body.status).toBe('settled');
  });

  test.each(['verify', 'mesh'] as const)(
    'rejects a USER token without azp payment-reconciler on POST /api/internal/reconcile with 403 in %s mode; the reconciler passes',
    async (mode) => {
      // GIVEN payment-service with its route intent from dist/
      const repository = new InMemoryPaymentRepository();
      const a = createPaymentApp({
        config: { port: 0, logLevel: 'silent', auth: authConfig(mode, 'payment-service') },
        logger: silentLogger,
        keySet: issuer.keySet,
        repository,
      });
      await repository.createIdempotent('key-000000009', { owner: 'alice', ...PAYMENT });
      // WHEN alice's USER token (azp shop-web) asks to reconcile THEN 403, nothing settled
      const denied = await request(a)
        .post('/api/internal/reconcile')
        .set('authorization', `Bearer ${alice}`)
        .expect(403);
      expect(denied.body.error.code).toBe('forbidden');
      // AND the reconciler's client-credentials token (azp payment-reconciler) settles it
      const reconciler = await issuer.mint({
        sub: 'service-account-payment-reconciler',
        azp: 'payment-reconciler',
        realm_access: { roles: [] },
      });
      await request(a)
        .post('/api/internal/reconcile')
        .set('authorization', `Bearer ${reconciler}`)
        .expect(200, { checked: 1, settled: 1 });
    },
  );

  test.each([
    ['no Idempotency-Key', {}, PAYMENT, 400, 'missing_idempotency_key'],
    [
      'a short Idempotency-Key',
      { 'idempotency-key': 'abc' },
      PAYMENT,
      400,
      'invalid_idempotency_key',
    ],
    [
      'a zero amount',
      { 'idempotency-key': 'key-00000000x' },
      { ...PAYMENT, amountCents: 0 },
      400,
      'invalid_request',
    ],
    [
      'a huge amount',
      { 'idempotency-key': 'key-00000000x' },
      { ...PAYMENT, amountCents: 1e12 },
      400,
      'invalid_request',
    ],
    [
      'an unknown currency',
      { 'idempotency-key': 'key-00000000x' },
      { ...PAYMENT, currency: 'XXX' },
      400,
      'invalid_request',
    ],
    [
      'a missing orderId',
      { 'idempotency-key': 'key-00000000x' },
      { amountCents: 1, currency: 'EUR' },
      400,
      'invalid_request',
    ],
    [
      'an extra field',
      { 'idempotency-key': 'key-00000000x' },
      { ...PAYMENT, status: 'settled' },
      400,
      'invalid_request',
    ],
  ])('rejects %s', async (_name, headers: Record<string, string>, body, status, code) => {
    const repository = new InMemoryPaymentRepository();
    const res = await request(app(repository))
      .post('/api/payments')
      .set('authorization', `Bearer ${alice}`)
      .set(headers)
      .send(body);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(repository.count()).toBe(0);
  });

  test("rejects reading another caller's payment or a malformed id with 404", async () => {
    const a = app();
    const created = await request(a)
      .post('/api/payments')
      .set('authorization', `Bearer ${alice}`)
      .set('idempotency-key', 'key-000000005')
      .send(PAYMENT)
      .expect(201);
    await request(a)
      .get(`/api/payments/${created.body.id as string}`)
      .set('authorization', `Bearer ${bob}`)
      .expect(404);
    await request(a)
      .get('/api/payments/not-a-uuid')
      .set('authorization', `Bearer ${alice}`)
      .expect(404);
  });
});
