import {
  ApiClient,
  ApiError,
  type FetchLike,
  SessionExpiredError,
  type TokenSource,
} from '../../services/shop-web/src/api-client.js';

interface Call {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/** A fake fetch answering from a list of responses, recording each call. */
function fakeFetch(responses: (Response | Error)[]): FetchLike & { calls: Call[] } {
  const calls: Call[] = [];
  const fn = (url: string, init: RequestInit): Promise<Response> => {
    calls.push({
      url,
      method: init.method ?? 'GET',
      headers: init.headers as Record<string, string>,
      ...(typeof init.body === 'string' ? { body: init.body } : {}),
    });
    const next = responses.shift();
    if (next === undefined) throw new Error('unexpected extra request');
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  };
  return Object.assign(fn, { calls });
}

/** A token source whose refresh hands out the next token, or is refused. */
function fakeTokens(
  initial: string | undefined,
  refreshed: (string | Error)[] = [],
): TokenSource & { refreshes: number } {
  let current = initial;
  const source = {
    refreshes: 0,
    accessToken: () => current,
    refresh: () => {
      source.refreshes++;
      const next = refreshed.shift();
      if (next === undefined || next instanceof Error) {
        current = undefined;
        return Promise.reject(
          next ?? new SessionExpiredError('Your session has ended. Please log in again.'),
        );
      }
      current = next;
      return Promise.resolve(next);
    },
  };
  return source;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });

const unauthorized = () => json(401, { error: { code: 'unauthorized', message: 'invalid token' } });

describe('ApiClient', () => {
  test('GIVEN a valid token WHEN listing orders THEN one request with the bearer token', async () => {
    const fetch = fakeFetch([json(200, { orders: [] })]);
    const tokens = fakeTokens('t1');
    const orders = await new ApiClient('https://shop.example.com', tokens, fetch).listOrders();
    expect(orders).toEqual([]);
    expect(fetch.calls).toHaveLength(1);
    expect(fetch.calls[0]?.url).toBe('https://shop.example.com/api/orders');
    expect(fetch.calls[0]?.headers.authorization).toBe('Bearer t1');
    expect(tokens.refreshes).toBe(0);
  });

  test('GIVEN a 401 WHEN the refresh works THEN it retries once with the new token and the same Idempotency-Key', async () => {
    const fetch = fakeFetch([unauthorized(), json(201, { id: 'o-1' })]);
    const tokens = fakeTokens('old', ['new']);
    const order = await new ApiClient('https://shop.example.com', tokens, fetch).createOrder(
      [{ sku: 'MW-MUG', quantity: 1 }],
      'key-12345678',
    );
    expect(order).toEqual({ id: 'o-1' });
    expect(tokens.refreshes).toBe(1);
    expect(fetch.calls.map((c) => c.headers.authorization)).toEqual(['Bearer old', 'Bearer new']);
    expect(fetch.calls.map((c) => c.headers['idempotency-key'])).toEqual([
      'key-12345678',
      'key-12345678',
    ]);
    expect(fetch.calls[1]?.body).toBe(fetch.calls[0]?.body);
  });

  test('GIVEN a 401 after the refresh too THEN it gives up after one retry with an ApiError 401', async () => {
    const fetch = fakeFetch([unauthorized(), unauthorized()]);
    const tokens = fakeTokens('old', ['new', 'newer']);
    const call = new ApiClient('https://shop.example.com', tokens, fetch).listOrders();
    await expect(call).rejects.toMatchObject({ name: 'ApiError', status: 401 });
    expect(tokens.refreshes).toBe(1);
    expect(fetch.calls).toHaveLength(2);
  });

  test('GIVEN a 401 WHEN the refresh is refused THEN SessionExpiredError and no retry', async () => {
    const fetch = fakeFetch([unauthorized()]);
    const tokens = fakeTokens('old', []);
    const call = new ApiClient('https://shop.example.com', tokens, fetch).listOrders();
    await expect(call).rejects.toBeInstanceOf(SessionExpiredError);
    expect(fetch.calls).toHaveLength(1);
    expect(tokens.accessToken()).toBeUndefined();
  });

  test('throws SessionExpiredError without a request when nobody is logged in', async () => {
    const fetch = fakeFetch([]);
    const call = new ApiClient(
      'https://shop.example.com',
      fakeTokens(undefined),
      fetch,
    ).listOrders();
    await expect(call).rejects.toBeInstanceOf(SessionExpiredError);
    expect(fetch.calls).toHaveLength(0);
  });

  test('does not refresh on 403 (a missing role is not an expired token)', async () => {
    const fetch = fakeFetch([new Response('RBAC: access denied', { status: 403 })]);
    const tokens = fakeTokens('t1', ['t2']);
    const call = new ApiClient('https://shop.example.com', tokens, fetch).adminStats();
    await expect(call).rejects.toMatchObject({ status: 403, code: 'http_error' });
    expect(tokens.refreshes).toBe(0);
  });

  test('maps the service error body to ApiError (code, message, request id)', async () => {
    const fetch = fakeFetch([
      json(400, {
        error: { code: 'invalid_request', message: "'items' must be…", requestId: 'r-1' },
      }),
    ]);
    const call = new ApiClient('https://shop.example.com', fakeTokens('t'), fetch).createOrder(
      [],
      'key-12345678',
    );
    await expect(call).rejects.toEqual(
      new ApiError(400, 'invalid_request', "'items' must be…", 'r-1'),
    );
  });

  test('maps a network failure to ApiError status 0', async () => {
    const fetch = fakeFetch([new TypeError('Failed to fetch')]);
    const call = new ApiClient('https://shop.example.com', fakeTokens('t'), fetch).listOrders();
    await expect(call).rejects.toMatchObject({ status: 0, code: 'network' });
  });

  test('calls the public catalog without a token', async () => {
    const fetch = fakeFetch([json(200, { currency: 'EUR', items: [] })]);
    const catalog = await new ApiClient(
      'https://shop.example.com',
      fakeTokens(undefined),
      fetch,
    ).catalog();
    expect(catalog).toEqual({ currency: 'EUR', items: [] });
    expect(fetch.calls[0]?.headers.authorization).toBeUndefined();
  });
});
