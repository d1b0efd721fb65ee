import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reconcileOnce } from '../../services/payment-reconciler/reconcile.js';
import { createPaymentApp } from '../../services/payment-service/app.js';
import { InMemoryPaymentRepository } from '../../services/payment-service/repository.js';
import { startServer } from '../../services/shared/server.js';
import { ClientCredentialsTokenSource } from '../../services/shared/token-source.js';
import { authConfig, createTestIssuer, silentLogger } from './support.js';

describe('payment-reconciler', () => {
  test('gets its own token by client credentials and reconciles at payment-service', async () => {
    // GIVEN a fake token endpoint minting a service-account token, and payment-service in verify mode
    const issuer = await createTestIssuer();
    const serviceToken = await issuer.mint({
      sub: 'service-account-payment-reconciler',
      azp: 'payment-reconciler',
      realm_access: { roles: [] },
    });
    const tokenServer = createServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ access_token: serviceToken, expires_in: 300, token_type: 'Bearer' }));
    });
    await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', r));
    const repository = new InMemoryPaymentRepository();
    await repository.createIdempotent('key-00000001', {
      owner: 'alice',
      orderId: 'o1',
      amountCents: 100,
      currency: 'EUR',
    });
    const lifecycle = { ready: false, shuttingDown: false };
    const payment = await startServer({
      app: createPaymentApp({
        config: { port: 0, logLevel: 'silent', auth: authConfig('verify', 'payment-service') },
        logger: silentLogger,
        keySet: issuer.keySet,
        repository,
      }),
      logger: silentLogger,
      lifecycle,
      port: 0,
      host: '127.0.0.1',
    });
    try {
      const tokens = new ClientCredentialsTokenSource({
        tokenUrl: new URL(`http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`),
        clientId: 'payment-reconciler',
        clientSecret: 'secret',
      });
      // WHEN one run executes THEN the authorized payment is settled
      const summary = await reconcileOnce({
        tokens,
        paymentServiceUrl: new URL(`http://127.0.0.1:${payment.port}`),
        logger: silentLogger,
      });
      expect(summary).toEqual({ checked: 1, settled: 1 });
    } finally {
      await payment.shutdown();
      tokenServer.closeAllConnections();
      await new Promise((r) => tokenServer.close(r));
    }
  });

  test('rejects (non-zero exit) when payment-service refuses, after one retry with a fresh token on 401', async () => {
    const seen: string[] = [];
    let n = 0;
    const tokens = {
      getToken: () => Promise.resolve(`token-${++n}`),
      invalidate: () => {
        seen.push('invalidate');
      },
    };
    const fakeFetch = ((_url: URL, init: RequestInit) => {
      seen.push((init.headers as Record<string, string>).authorization);
      return Promise.resolve(new Response('{"error":{}}', { status: 401 }));
    }) as typeof fetch;
    await expect(
      reconcileOnce({
        tokens,
        paymentServiceUrl: new URL('http://127.0.0.1:9'),
        logger: silentLogger,
        fetch: fakeFetch,
      }),
    ).rejects.toThrow('reconcile failed: payment-service answered 401');
    expect(seen).toEqual(['Bearer token-1', 'invalidate', 'Bearer token-2']);
  });
});
