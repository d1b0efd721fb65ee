import { HttpError } from '../shared/errors.js';

export interface ChargeRequest {
  readonly orderId: string;
  readonly amountCents: number;
  readonly currency: string;
}

export interface PaymentClient {
  /**
   * Charges through payment-service, forwarding the user's token (the mesh checks it
   * again at payment-service) and an Idempotency-Key, so a retry never charges twice.
   */
  charge(
    request: ChargeRequest,
    context: { token: string; idempotencyKey: string; requestId: string },
  ): Promise<{ paymentId: string }>;
}

export function createPaymentClient(
  baseUrl: URL,
  fetchImpl: typeof fetch = fetch,
  timeoutMs = 5000,
): PaymentClient {
  const url = new URL('/api/payments', baseUrl);
  return {
    async charge(request, context) {
      let res: Response;
      try {
        res = await fetchImpl(url, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${context.token}`,
            'idempotency-key': context.idempotencyKey,
            'x-request-id': context.requestId,
            'content-type': 'application/json',
            accept: 'application/json',
          },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw new HttpError(502, 'payment_unavailable', 'payment service is unavailable', {
          cause: err,
        });
      }
      const json = (await res.json().catch(() => undefined)) as { id?: unknown } | undefined;
      if (res.status === 409) {
        throw new HttpError(
          409,
          'idempotency_key_reused',
          'Idempotency-Key was already used with a different order',
        );
      }
      if (!res.ok || typeof json?.id !== 'string') {
        throw new HttpError(502, 'payment_failed', `payment service answered ${res.status}`);
      }
      return { paymentId: json.id };
    },
  };
}
