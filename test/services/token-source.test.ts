import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ClientCredentialsTokenSource,
  TokenEndpointError,
} from '../../services/shared/token-source.js';
import { gate } from './support.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A fake token endpoint on loopback whose behaviour each test scripts per call. */
async function fakeTokenEndpoint(handlers: Handler[]): Promise<{
  url: URL;
  calls: { auth: string | undefined; body: string }[];
  close(): Promise<void>;
}> {
  const calls: { auth: string | undefined; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      calls.push({ auth: req.headers.authorization, body });
      const handler = handlers[Math.min(calls.length - 1, handlers.length - 1)];
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: new URL(`http://127.0.0.1:${port}/realms/shop/protocol/openid-connect/token`),
    calls,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const json =
  (status: number, body: unknown): Handler =>
  (_req, _body, res) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

describe('ClientCredentialsTokenSource', () => {
  test('sends client credentials and caches the token until shortly before expiry', async () => {
    // GIVEN an endpoint issuing 300 s tokens and a controllable clock
    const endpoint = await fakeTokenEndpoint([
      json(200, { access_token: 't1', expires_in: 300 }),
      json(200, { access_token: 't2', expires_in: 300 }),
    ]);
    let now = 1_000_000;
    const source = new ClientCredentialsTokenSource({
      tokenUrl: endpoint.url,
      clientId: 'payment-reconciler',
      clientSecret: 's3cr:et',
      now: () => now,
      refreshBeforeExpirySeconds: 30,
    });
    try {
      // WHEN asked repeatedly within the lifetime THEN one call
      expect(await source.getToken()).toBe('t1');
      now += 269_000;
      expect(await source.getToken()).toBe('t1');
      expect(endpoint.calls).toHaveLength(1);
      expect(endpoint.calls[0]?.body).toBe('grant_type=client_credentials');
      expect(endpoint.calls[0]?.auth).toBe(
        `Basic ${Buffer.from('payment-reconciler:s3cr%3Aet').toString('base64')}`,
      );
      // AND within 30 s of expiry it refreshes
      now += 2_000;
      expect(await source.getToken()).toBe('t2');
      expect(endpoint.calls).toHaveLength(2);
    } finally {
      await endpoint.close();
    }
  });

  test('concurrent callers share a single in-flight refresh', async () => {
    const hold = gate();
    let served = 0;
    const endpoint = await fakeTokenEndpoint([
      (_req, _body, res) => {
        served++;
        void hold.promise.then(() =>
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ access_token: 'shared', expires_in: 60 })),
        );
      },
    ]);
    const source = new ClientCredentialsTokenSource({
      tokenUrl: endpoint.url,
      clientId: 'c',
      clientSecret: 's',
    });
    try {
      const all = Promise.all(Array.from({ length: 10 }, () => source.getToken()));
      hold.open();
      expect(await all).toEqual(Array.from({ length: 10 }, () => 'shared'));
      expect(served).toBe(1);
      expect(endpoint.calls).toHaveLength(1);
    } finally {
      await endpoint.close();
    }
  });

  test('retries 5xx and 429 with exponential backoff, then succeeds', async () => {
    const endpoint = await fakeTokenEndpoint([
      json(503, {}),
      json(429, {}),
      json(500, {}),
      json(200, { access_token: 'ok', expires_in: 60 }),
    ]);
    const delays: number[] = [];
    const source = new ClientCredentialsTokenSource({
      tokenUrl: endpoint.url,
      clientId: 'c',
      clientSecret: 's',
      baseDelayMs: 100,
      maxAttempts: 4,
      random: () => 0,
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
    });
    try {
      expect(await source.getToken()).toBe('ok');
      expect(delays).toEqual([100, 200, 400]);
      expect(endpoint.calls).toHaveLength(4);
    } finally {
      await endpoint.close();
    }
  });

  test('rejects after maxAttempts transient failures, and the next call tries again', async () => {
    const endpoint = await fakeTokenEndpoint([
      json(502, {}),
      json(502, {}),
      json(200, { access_token: 'later', expires_in: 60 }),
    ]);
    const source = new ClientCredentialsTokenSource({
      tokenUrl: endpoint.url,
      clientId: 'c',
      clientSecret: 's',
      maxAttempts: 2,
      sleep: () => Promise.resolve(),
    });
    try {
      await expect(source.getToken()).rejects.toThrow('token endpoint failed after 2 attempts');
      expect(await source.getToken()).toBe('later');
    } finally {
      await endpoint.close();
    }
  });

  test('rejects invalid_client at once without retrying', async () => {
    const endpoint = await fakeTokenEndpoint([json(401, { error: 'invalid_client' })]);
    const source = new ClientCredentialsTokenSource({
      tokenUrl: endpoint.url,
      clientId: 'c',
      clientSecret: 'wrong',
      sleep: () => Promise.resolve(),
    });
    try {
      await expect(source.getToken()).rejects.toThrow(TokenEndpointError);
      await expect(source.getToken()).rejects.toThrow(
        'token endpoint rejected the client (401 invalid_client)',
      );
      expect(endpoint.calls).toHaveLength(2);
    } finally {
      await endpoint.close();
    }
  });

  test('throws when constructed with an empty secret or bad maxAttempts', () => {
    const tokenUrl = new URL('http://127.0.0.1:9/token');
    expect(
      () => new ClientCredentialsTokenSource({ tokenUrl, clientId: 'c', clientSecret: '' }),
    ).toThrow("'clientSecret' must not be empty");
    expect(
      () =>
        new ClientCredentialsTokenSource({
          tokenUrl,
          clientId: 'c',
          clientSecret: 's',
          maxAttempts: 0,
        }),
    ).toThrow("'maxAttempts' (0) must be a positive integer");
  });
});
