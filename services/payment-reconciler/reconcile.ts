import type { Logger } from '../shared/logger.js';
import type { ClientCredentialsTokenSource } from '../shared/token-source.js';

export interface ReconcileSummary {
  readonly checked: number;
  readonly settled: number;
}

/**
 * One reconciler run: get the service's own token (client credentials) and call
 * payment-service `POST /api/internal/reconcile`. A 401 drops the cached token and
 * retries once with a fresh one. Throws on any other failure.
 */
export async function reconcileOnce(options: {
  readonly tokens: Pick<ClientCredentialsTokenSource, 'getToken' | 'invalidate'>;
  readonly paymentServiceUrl: URL;
  readonly logger: Logger;
  readonly fetch?: typeof fetch;
  readonly timeoutMs?: number;
}): Promise<ReconcileSummary> {
  const fetchImpl = options.fetch ?? fetch;
  const url = new URL('/api/internal/reconcile', options.paymentServiceUrl);
  const call = async (): Promise<Response> =>
    fetchImpl(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await options.tokens.getToken()}`,
        accept: 'application/json',
      },
      signal: AbortSignal.timeout(options.timeoutMs ?? 10000),
    });
  let res = await call();
  if (res.status === 401) {
    options.logger.warn('reconcile answered 401, retrying with a fresh token');
    options.tokens.invalidate();
    res = await call();
  }
  if (!res.ok) throw new Error(`reconcile failed: payment-service answered ${res.status}`);
  const body = (await res.json()) as Partial<ReconcileSummary>;
  if (typeof body.checked !== 'number' || typeof body.settled !== 'number') {
    throw new Error('reconcile failed: unexpected response body');
  }
  return { checked: body.checked, settled: body.settled };
}
