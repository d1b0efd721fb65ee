import { HttpError } from './errors.js';

export interface ClientCredentialsOptions {
  readonly tokenUrl: URL;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Space-delimited scopes to request. */
  readonly scope?: string;
  /** Refresh this long before `expires_in` runs out. @default 30 */
  readonly refreshBeforeExpirySeconds?: number;
  /** Total attempts per refresh (network errors, 429 and 5xx are retried). @default 4 */
  readonly maxAttempts?: number;
  /** First backoff delay, doubled per retry, with jitter up to the same amount. @default 200 */
  readonly baseDelayMs?: number;
  /** Per-attempt timeout. @default 5000 */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

interface CachedToken {
  readonly accessToken: string;
  readonly refreshAtMs: number;
}

/** A non-retryable failure at the token endpoint (for example invalid_client). */
export class TokenEndpointError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'TokenEndpointError';
  }
}

/**
 * OAuth 2.0 client-credentials token source: a service's own identity when no user is
 * involved (the reconciler). Caches the token until shortly before expiry, lets one
 * refresh run at a time (concurrent callers share it), and retries transient failures
 * with exponential backoff and jitter.
 */
export class ClientCredentialsTokenSource {
  private cached: CachedToken | undefined;
  private inFlight: Promise<string> | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly options: ClientCredentialsOptions) {
    if (options.clientId === '') throw new Error("'clientId' must not be empty");
    if (options.clientSecret === '') throw new Error("'clientSecret' must not be empty");
    const attempts = options.maxAttempts ?? 4;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw new Error(`'maxAttempts' (${attempts}) must be a positive integer`);
    }
    this.fetchImpl = options.fetch ?? fetch;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
  }

  /** A valid access token, fetched only when the cached one is (nearly) expired. */
  async getToken(): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAtMs) return this.cached.accessToken;
    this.inFlight ??= this.refresh().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Drops the cached token (e.g. after the resource server answered 401). */
  invalidate(): void {
    this.cached = undefined;
  }

  private async refresh(): Promise<string> {
    const maxAttempts = this.options.maxAttempts ?? 4;
    const base = this.options.baseDelayMs ?? 200;
    let lastError: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      try {
        const token = await this.requestOnce();
        this.cached = token;
        return token.accessToken;
      } catch (err) {
        if (err instanceof TokenEndpointError) throw err;
        lastError = err;
        if (attempt < maxAttempts) {
          const delay = base * 2 ** (attempt - 1);
          await this.sleep(delay + Math.floor(this.random() * delay));
        }
      }
    }
    throw new Error(`token endpoint failed after ${maxAttempts} attempts`, { cause: lastError });
  }

  private async requestOnce(): Promise<CachedToken> {
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.options.scope) body.set('scope', this.options.scope);
    const basic = Buffer.from(
      `${encodeURIComponent(this.options.clientId)}:${encodeURIComponent(this.options.clientSecret)}`,
    ).toString('base64');
    const started = this.now();
    const res = await this.fetchImpl(this.options.tokenUrl, {
      method: 'POST',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
    });
    if (res.status === 429 || res.status >= 500) {
      throw new HttpError(
        res.status,
        'token_endpoint_unavailable',
        `token endpoint answered ${res.status}`,
      );
    }
    const json = (await res.json().catch(() => undefined)) as
      { access_token?: unknown; expires_in?: unknown; error?: unknown } | undefined;
    if (!res.ok) {
      const reason = typeof json?.error === 'string' ? json.error : 'unknown error';
      throw new TokenEndpointError(
        `token endpoint rejected the client (${res.status} ${reason})`,
        res.status,
      );
    }
    if (typeof json?.access_token !== 'string' || json.access_token === '') {
      throw new TokenEndpointError('token endpoint response has no access_token', res.status);
    }
    const expiresIn =
      typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 60;
    const skew = Math.min(this.options.refreshBeforeExpirySeconds ?? 30, expiresIn / 2);
    return { accessToken: json.access_token, refreshAtMs: started + (expiresIn - skew) * 1000 };
  }
}
