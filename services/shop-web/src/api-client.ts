/**
 * The shop API as the browser calls it: a bearer token on every request, one refresh and
 * one retry when the API answers 401, and errors turned into `ApiError`. No DOM here, so it
 * runs under jest with a fake token source and a fake fetch.
 */

import type {
  AdminStatsView as AdminStats,
  CatalogView as Catalog,
  OrderItem,
  OrderView as Order,
} from '../../order-service/api.js';

// The API's own types (order-service/api.ts, types only): client and server cannot drift apart.
export type { AdminStats, Catalog, Order, OrderItem };
export type { CatalogItem } from '../../order-service/api.js';

/** Where the client gets tokens; shop-web's `Auth` implements it with oidc-client-ts. */
export interface TokenSource {
  /** The current access token, or undefined when nobody is logged in. */
  accessToken(): string | undefined;
  /**
   * A new access token from the refresh token. Throws `SessionExpiredError` when the
   * login server refuses (the user must log in again).
   */
  refresh(): Promise<string>;
}

/** The session cannot continue: nobody is logged in, or the refresh token was refused. */
export class SessionExpiredError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SessionExpiredError';
  }
}

/** The API answered with an error, or could not be reached (`status` 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

async function errorOf(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => undefined)) as
    { error?: { code?: unknown; message?: unknown; requestId?: unknown } } | undefined;
  const e = body?.error;
  const requestId =
    typeof e?.requestId === 'string' ? e.requestId : (res.headers.get('x-request-id') ?? undefined);
  return new ApiError(
    res.status,
    typeof e?.code === 'string' ? e.code : 'http_error',
    typeof e?.message === 'string' ? e.message : `HTTP ${res.status}`,
    requestId,
  );
}

export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly tokens: TokenSource,
    private readonly fetchImpl: FetchLike = (input, init) => fetch(input, init),
  ) {}

  /**
   * Sends a request with the current access token. On 401 it asks the token source for a
   * new token once and retries once with the same body and headers (an Idempotency-Key
   * makes the retry of a POST safe). A refused refresh surfaces as SessionExpiredError.
   */
  async request<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; auth?: boolean } = {},
  ): Promise<T> {
    const auth = options.auth ?? true;
    let token: string | undefined;
    if (auth) {
      token = this.tokens.accessToken();
      if (token === undefined) throw new SessionExpiredError('You are not logged in.');
    }
    let res = await this.send(method, path, options, token);
    if (auth && res.status === 401) {
      token = await this.tokens.refresh();
      res = await this.send(method, path, options, token);
    }
    if (!res.ok) throw await errorOf(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  catalog(): Promise<Catalog> {
    return this.request<Catalog>('GET', '/api/public/catalog', { auth: false });
  }

  async listOrders(): Promise<Order[]> {
    return (await this.request<{ orders: Order[] }>('GET', '/api/orders')).orders;
  }

  createOrder(items: readonly OrderItem[], idempotencyKey: string): Promise<Order> {
    return this.request<Order>('POST', '/api/orders', {
      body: { items },
      headers: { 'idempotency-key': idempotencyKey },
    });
  }

  adminStats(): Promise<AdminStats> {
    return this.request<AdminStats>('GET', '/api/admin/stats');
  }

  private async send(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> },
    token: string | undefined,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await this.fetchImpl(new URL(path, this.baseUrl).href, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        credentials: 'omit',
        cache: 'no-store',
        referrerPolicy: 'no-referrer',
      });
    } catch (err) {
      throw new ApiError(0, 'network', err instanceof Error ? err.message : String(err));
    }
  }
}
