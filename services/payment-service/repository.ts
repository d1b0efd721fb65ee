import { randomUUID } from 'node:crypto';

export type PaymentStatus = 'authorized' | 'settled';

export interface Payment {
  readonly id: string;
  readonly owner: string;
  readonly orderId: string;
  readonly amountCents: number;
  readonly currency: string;
  readonly status: PaymentStatus;
  readonly createdAt: string;
}

export type NewPayment = Pick<Payment, 'owner' | 'orderId' | 'amountCents' | 'currency'>;

export type IdempotentResult =
  | { readonly kind: 'created' | 'replayed'; readonly payment: Payment }
  | { readonly kind: 'conflict' };

/** Storage for payments. In-memory for now; a database adapter implements the same interface. */
export interface PaymentRepository {
  /**
   * Creates the payment once per (owner, idempotencyKey). A repeat with the same request
   * returns the first payment (`replayed`), a repeat with a different request is a
   * `conflict`. Concurrent duplicates must never create a second payment.
   */
  createIdempotent(idempotencyKey: string, payment: NewPayment): Promise<IdempotentResult>;
  get(id: string): Promise<Payment | undefined>;
  /** Settles every authorized payment; returns how many were checked and settled. */
  settleAuthorized(): Promise<{ checked: number; settled: number }>;
}

function fingerprint(p: NewPayment): string {
  return JSON.stringify([p.orderId, p.amountCents, p.currency]);
}

export class InMemoryPaymentRepository implements PaymentRepository {
  private readonly payments = new Map<string, Payment>();
  /** (owner, key) → fingerprint + payment id. Written synchronously: no await between check and set. */
  private readonly idempotency = new Map<string, { fingerprint: string; paymentId: string }>();

  createIdempotent(idempotencyKey: string, request: NewPayment): Promise<IdempotentResult> {
    const scope = JSON.stringify([request.owner, idempotencyKey]);
    const existing = this.idempotency.get(scope);
    if (existing) {
      if (existing.fingerprint !== fingerprint(request))
        return Promise.resolve({ kind: 'conflict' });
      const payment = this.payments.get(existing.paymentId);
      if (!payment)
        throw new Error(`idempotency record points to missing payment ${existing.paymentId}`);
      return Promise.resolve({ kind: 'replayed', payment });
    }
    const payment: Payment = {
      id: randomUUID(),
      ...request,
      status: 'authorized',
      createdAt: new Date().toISOString(),
    };
    this.payments.set(payment.id, payment);
    this.idempotency.set(scope, { fingerprint: fingerprint(request), paymentId: payment.id });
    return Promise.resolve({ kind: 'created', payment });
  }

  get(id: string): Promise<Payment | undefined> {
    return Promise.resolve(this.payments.get(id));
  }

  settleAuthorized(): Promise<{ checked: number; settled: number }> {
    let settled = 0;
    for (const payment of this.payments.values()) {
      if (payment.status === 'authorized') {
        this.payments.set(payment.id, { ...payment, status: 'settled' });
        settled++;
      }
    }
    return Promise.resolve({ checked: this.payments.size, settled });
  }

  /** Number of stored payments (tests assert "never a second charge"). */
  count(): number {
    return this.payments.size;
  }
}
