/**
 * The JSON order-service answers with. Types only: shop-web's browser client imports
 * them too (`import type`, erased from the bundle), so the two cannot drift apart.
 */
import type { CatalogItem } from './catalog.js';
import type { Order } from './repository.js';

export type { CatalogItem } from './catalog.js';
export type { OrderItem } from './repository.js';

/** An order as the API shows it: everything stored but its owner. */
export type OrderView = Omit<Order, 'owner'>;

/** `GET /api/public/catalog`: prices in `currency`. */
export interface CatalogView {
  readonly currency: string;
  readonly items: readonly CatalogItem[];
}

/** `GET /api/admin/stats`. */
export interface AdminStatsView {
  /** The currency of `revenueCents`. */
  readonly currency: string;
  readonly orders: number;
  readonly customers: number;
  readonly revenueCents: number;
}
