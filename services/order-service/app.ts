import { createHash, randomUUID } from 'node:crypto';
import type { Express } from 'express';
import type { JWTVerifyGetKey } from 'jose';
import { HttpError } from '../shared/errors.js';
import { createIdentityResolver, hasRole } from '../shared/identity.js';
import type { Logger } from '../shared/logger.js';
import { createLogger } from '../shared/logger.js';
import { createRouteGuard } from '../shared/route-guard.js';
import type { Lifecycle } from '../shared/web.js';
import { authenticatedRoutes, createServiceApp, requestIdOf, requireJson } from '../shared/web.js';
import type { AdminStatsView, CatalogView, OrderView } from './api.js';
import { CATALOG, CURRENCY } from './catalog.js';
import type { OrderServiceConfig } from './config.js';
import type { PaymentClient } from './payment-client.js';
import { createPaymentClient } from './payment-client.js';
import type { Order, OrderItem, OrderRepository } from './repository.js';
import { InMemoryOrderRepository } from './repository.js';

export interface OrderAppOptions {
  readonly config: OrderServiceConfig;
  readonly repository?: OrderRepository;
  readonly logger?: Logger;
  readonly lifecycle?: Lifecycle;
  /** Verification keys for `verify` mode; defaults to the remote JWKS_URI. */
  readonly keySet?: JWTVerifyGetKey;
  /** Replaces the HTTP client to payment-service (defaults to fetch against PAYMENT_SERVICE_URL). */
  readonly paymentClient?: PaymentClient;
  /** fetch used by the default payment client. */
  readonly fetch?: typeof fetch;
}

const ORDER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{8,128}$/;
const MAX_ITEMS = 20;
const MAX_QUANTITY = 100;
const PRICES = new Map(CATALOG.map((item) => [item.sku, item.priceCents]));

/** A stable UUID-shaped id for (caller, Idempotency-Key). */
function orderIdFor(subject: string, key: string): string {
  const h = createHash('sha256').update(`${subject}\0${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function invalid(message: string): HttpError {
  return new HttpError(400, 'invalid_request', message);
}

/** Validates `{ items: [{ sku, quantity }] }` against the catalog. */
export function parseOrderRequest(body: unknown): OrderItem[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('body must be a JSON object');
  }
  const { items, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw invalid(`unknown field '${extra[0] ?? ''}'`);
  if (!Array.isArray(items) || items.length < 1 || items.length > MAX_ITEMS) {
    throw invalid(`'items' must be an array of 1-${MAX_ITEMS} entries`);
  }
  return items.map((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw invalid(`'items[${i}]' must be an object`);
    const { sku, quantity, ...more } = raw as Record<string, unknown>;
    const unknownField = Object.keys(more).at(0);
    if (unknownField !== undefined) throw invalid(`unknown field 'items[${i}].${unknownField}'`);
    if (typeof sku !== 'string' || !PRICES.has(sku))
      throw invalid(`'items[${i}].sku' is not a catalog item`);
    if (
      typeof quantity !== 'number' ||
      !Number.isInteger(quantity) ||
      quantity < 1 ||
      quantity > MAX_QUANTITY
    ) {
      throw invalid(`'items[${i}].quantity' must be an integer 1-${MAX_QUANTITY}`);
    }
    return { sku, quantity };
  });
}

/** The same items, in any order: what makes a replay the same order. */
function sameItems(a: readonly OrderItem[], b: readonly OrderItem[]): boolean {
  const key = (items: readonly OrderItem[]) =>
    items
      .map((i) => `${i.sku}\0${String(i.quantity)}`)
      .sort()
      .join('\n');
  return key(a) === key(b);
}

function view(o: Order): OrderView {
  return {
    id: o.id,
    items: o.items,
    totalCents: o.totalCents,
    currency: o.currency,
    paymentId: o.paymentId,
    status: o.status,
    createdAt: o.createdAt,
  };
}

/**
 * order-service. The mesh enforces who may reach which route (roles, scopes, callers);
 * the app enforces the same roles and scopes again from its route intent
 * (`config.auth.routes`, see `createRouteGuard`) and keeps what the mesh cannot see:
 * ownership of an order.
 */
export function createOrderApp(options: OrderAppOptions): Express {
  const { config } = options;
  const logger = options.logger ?? createLogger('order-service', config.logLevel);
  const repository = options.repository ?? new InMemoryOrderRepository();
  const payments =
    options.paymentClient ?? createPaymentClient(config.paymentServiceUrl, options.fetch);
  const resolve = createIdentityResolver(
    config.auth,
    options.keySet ? { keySet: options.keySet } : {},
  );
  return createServiceApp({ logger, lifecycle: options.lifecycle }, (app) => {
    const api = authenticatedRoutes(app, resolve, createRouteGuard(config.auth));

    // The busiest routes first: every route registered before them is tried on each request.
    api.get('/api/orders', async (_req, res, caller) => {
      const orders = await repository.listByOwner(caller.subject);
      res.json({ orders: orders.map(view) });
    });

    api.post('/api/orders', async (req, res, caller) => {
      requireJson(req);
      const clientKey = req.get('idempotency-key');
      if (clientKey !== undefined && !IDEMPOTENCY_KEY.test(clientKey)) {
        throw new HttpError(
          400,
          'invalid_idempotency_key',
          'Idempotency-Key must be 8-128 of [A-Za-z0-9._:-]',
        );
      }
      const items = parseOrderRequest(req.body);
      const totalCents = items.reduce(
        (sum, item) => sum + (PRICES.get(item.sku) ?? 0) * item.quantity,
        0,
      );
      // A client retry with the same Idempotency-Key maps to the same order id, so
      // payment-service replays the first charge instead of charging again.
      const id = clientKey === undefined ? randomUUID() : orderIdFor(caller.subject, clientKey);
      // A replay is the same order or a conflict: the key never rewrites what it created.
      const replayOf = async (): Promise<Order | undefined> => {
        const existing = clientKey === undefined ? undefined : await repository.get(id);
        if (existing !== undefined && !sameItems(existing.items, items)) {
          throw new HttpError(
            409,
            'idempotency_key_reused',
            'Idempotency-Key was already used with a different order',
          );
        }
        return existing;
      };
      const replayed = await replayOf();
      if (replayed !== undefined) {
        res.setHeader('idempotent-replayed', 'true');
        res.status(201).location(`/api/orders/${id}`).json(view(replayed));
        return;
      }
      // Charge first, store second: a failed charge leaves nothing half-written.
      const { paymentId } = await payments.charge(
        { orderId: id, amountCents: totalCents, currency: CURRENCY },
        {
          token: caller.token,
          idempotencyKey: clientKey ?? `order-${id}`,
          requestId: requestIdOf(res),
        },
      );
      // Another request with the key may have stored its order while this one was charged.
      const raced = await replayOf();
      if (raced !== undefined) {
        res.setHeader('idempotent-replayed', 'true');
        res.status(201).location(`/api/orders/${id}`).json(view(raced));
        return;
      }
      const order: Order = {
        id,
        owner: caller.subject,
        items,
        totalCents,
        currency: CURRENCY,
        paymentId,
        status: 'paid',
        createdAt: new Date().toISOString(),
      };
      await repository.save(order);
      logger.info('order created', {
        requestId: requestIdOf(res),
        orderId: id,
        paymentId,
        subject: caller.subject,
      });
      res.status(201).location(`/api/orders/${id}`).json(view(order));
    });

    // Registered before /api/orders/:id so "admin" is never read as an order id.
    api.get('/api/orders/admin/all', async (_req, res) => {
      const orders = await repository.listAll();
      res.json({ orders: orders.map((o) => ({ ...view(o), owner: o.owner })) });
    });

    const findOwned = async (id: unknown, subject: string, admin: boolean): Promise<Order> => {
      const order =
        typeof id === 'string' && ORDER_ID.test(id) ? await repository.get(id) : undefined;
      // 404, not 403: another user's order is indistinguishable from a missing one.
      if (!order || (order.owner !== subject && !admin))
        throw new HttpError(404, 'not_found', 'order not found');
      return order;
    };

    api.get('/api/orders/:id', async (req, res, caller) => {
      const order = await findOwned(req.params.id, caller.subject, hasRole(caller, 'ADMIN'));
      res.json(view(order));
    });

    api.delete('/api/orders/:id', async (req, res, caller) => {
      const order = await findOwned(req.params.id, caller.subject, hasRole(caller, 'ADMIN'));
      await repository.delete(order.id);
      logger.info('order deleted', {
        requestId: requestIdOf(res),
        orderId: order.id,
        subject: caller.subject,
      });
      res.status(204).end();
    });

    app.get('/api/public/catalog', (_req, res) => {
      const catalog: CatalogView = { currency: CURRENCY, items: CATALOG };
      res.json(catalog);
    });

    api.get('/api/admin/stats', async (_req, res) => {
      const orders = await repository.listAll();
      const stats: AdminStatsView = {
        currency: CURRENCY,
        orders: orders.length,
        customers: new Set(orders.map((o) => o.owner)).size,
        revenueCents: orders.reduce((sum, o) => sum + o.totalCents, 0),
      };
      res.json(stats);
    });
  });
}
