import type { Express, Request } from 'express';
import type { JWTVerifyGetKey } from 'jose';
import { HttpError } from '../shared/errors.js';
import { createIdentityResolver, hasRole } from '../shared/identity.js';
import type { Logger } from '../shared/logger.js';
import { createLogger } from '../shared/logger.js';
import { createRouteGuard } from '../shared/route-guard.js';
import type { Lifecycle } from '../shared/web.js';
import { authenticatedRoutes, createServiceApp, requestIdOf, requireJson } from '../shared/web.js';
import type { PaymentServiceConfig } from './config.js';
import type { Payment, PaymentRepository } from './repository.js';
import { InMemoryPaymentRepository } from './repository.js';

export interface PaymentAppOptions {
  readonly config: PaymentServiceConfig;
  readonly repository?: PaymentRepository;
  readonly logger?: Logger;
  readonly lifecycle?: Lifecycle;
  /** Verification keys for `verify` mode; defaults to the remote JWKS_URI. */
  readonly keySet?: JWTVerifyGetKey;
}

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{8,128}$/;
const ORDER_ID = /^[A-Za-z0-9-]{1,64}$/;
const PAYMENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CURRENCIES = new Set(['EUR', 'USD', 'GBP']);

interface PaymentRequest {
  readonly orderId: string;
  readonly amountCents: number;
  readonly currency: string;
}

function invalid(message: string): HttpError {
  return new HttpError(400, 'invalid_request', message);
}

export function parsePaymentRequest(body: unknown): PaymentRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('body must be a JSON object');
  }
  const { orderId, amountCents, currency, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw invalid(`unknown field '${extra[0] ?? ''}'`);
  if (typeof orderId !== 'string' || !ORDER_ID.test(orderId)) {
    throw invalid("'orderId' must be 1-64 letters, digits or dashes");
  }
  if (
    typeof amountCents !== 'number' ||
    !Number.isSafeInteger(amountCents) ||
    amountCents < 1 ||
    amountCents > 10_000_000
  ) {
    throw invalid("'amountCents' must be an integer 1-10000000");
  }
  if (typeof currency !== 'string' || !CURRENCIES.has(currency)) {
    throw invalid(`'currency' must be one of ${[...CURRENCIES].join(', ')}`);
  }
  return { orderId, amountCents, currency };
}

function idempotencyKeyOf(req: Request): string {
  const key = req.get('idempotency-key');
  if (key === undefined)
    throw new HttpError(400, 'missing_idempotency_key', 'Idempotency-Key header is required');
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new HttpError(
      400,
      'invalid_idempotency_key',
      'Idempotency-Key must be 8-128 of [A-Za-z0-9._:-]',
    );
  }
  return key;
}

function view(p: Payment): Record<string, unknown> {
  return {
    id: p.id,
    orderId: p.orderId,
    amountCents: p.amountCents,
    currency: p.currency,
    status: p.status,
    createdAt: p.createdAt,
  };
}

/**
 * payment-service. The mesh decides who may call which route (order-service with a
 * user token for payments, the reconciler for reconcile); the app enforces the token side
 * of the same rules again from its route intent (`config.auth.routes`, see
 * `createRouteGuard`: roles, the reconciler's `azp`, not the calling workload) and keeps
 * idempotency and ownership.
 */
export function createPaymentApp(options: PaymentAppOptions): Express {
  const logger = options.logger ?? createLogger('payment-service', options.config.logLevel);
  const repository = options.repository ?? new InMemoryPaymentRepository();
  const resolve = createIdentityResolver(
    options.config.auth,
    options.keySet ? { keySet: options.keySet } : {},
  );
  return createServiceApp({ logger, lifecycle: options.lifecycle }, (app) => {
    const api = authenticatedRoutes(app, resolve, createRouteGuard(options.config.auth));

    api.post('/api/payments', async (req, res, caller) => {
      requireJson(req);
      const key = idempotencyKeyOf(req);
      const request = parsePaymentRequest(req.body);
      const result = await repository.createIdempotent(key, { owner: caller.subject, ...request });
      if (result.kind === 'conflict') {
        throw new HttpError(
          409,
          'idempotency_key_reused',
          'Idempotency-Key was already used with a different request',
        );
      }
      if (result.kind === 'replayed') res.setHeader('idempotent-replayed', 'true');
      logger.info(result.kind === 'created' ? 'payment created' : 'payment replayed', {
        requestId: requestIdOf(res),
        paymentId: result.payment.id,
        subject: caller.subject,
      });
      res.status(result.kind === 'created' ? 201 : 200).json(view(result.payment));
    });

    api.get('/api/payments/:id', async (req, res, caller) => {
      const id = req.params.id;
      const payment =
        typeof id === 'string' && PAYMENT_ID.test(id) ? await repository.get(id) : undefined;
      if (!payment || (payment.owner !== caller.subject && !hasRole(caller, 'ADMIN'))) {
        throw new HttpError(404, 'not_found', 'payment not found');
      }
      res.json(view(payment));
    });

    api.post('/api/internal/reconcile', async (_req, res, caller) => {
      const summary = await repository.settleAuthorized();
      logger.info('reconciled', {
        requestId: requestIdOf(res),
        caller: caller.clientId ?? caller.subject,
        ...summary,
      });
      res.json(summary);
    });
  });
}
