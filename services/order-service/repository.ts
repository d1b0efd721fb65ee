export interface OrderItem {
  readonly sku: string;
  readonly quantity: number;
}

export interface Order {
  readonly id: string;
  readonly owner: string;
  readonly items: readonly OrderItem[];
  readonly totalCents: number;
  readonly currency: string;
  readonly paymentId: string;
  readonly status: 'paid';
  readonly createdAt: string;
}

/** Storage for orders. In-memory for now; a database adapter implements the same interface. */
export interface OrderRepository {
  save(order: Order): Promise<void>;
  get(id: string): Promise<Order | undefined>;
  listByOwner(owner: string): Promise<readonly Order[]>;
  listAll(): Promise<readonly Order[]>;
  delete(id: string): Promise<boolean>;
}

export class InMemoryOrderRepository implements OrderRepository {
  private readonly orders = new Map<string, Order>();
  /** The same orders per owner, so listing one caller's orders does not scan everyone's. */
  private readonly byOwner = new Map<string, Map<string, Order>>();

  save(order: Order): Promise<void> {
    const previous = this.orders.get(order.id);
    if (previous !== undefined && previous.owner !== order.owner) this.unindex(previous);
    this.orders.set(order.id, order);
    let owned = this.byOwner.get(order.owner);
    if (owned === undefined) {
      owned = new Map();
      this.byOwner.set(order.owner, owned);
    }
    owned.set(order.id, order);
    return Promise.resolve();
  }

  get(id: string): Promise<Order | undefined> {
    return Promise.resolve(this.orders.get(id));
  }

  listByOwner(owner: string): Promise<readonly Order[]> {
    const owned = this.byOwner.get(owner);
    return Promise.resolve(owned === undefined ? [] : [...owned.values()]);
  }

  listAll(): Promise<readonly Order[]> {
    return Promise.resolve([...this.orders.values()]);
  }

  delete(id: string): Promise<boolean> {
    const order = this.orders.get(id);
    if (order === undefined) return Promise.resolve(false);
    this.orders.delete(id);
    this.unindex(order);
    return Promise.resolve(true);
  }

  private unindex(order: Order): void {
    const owned = this.byOwner.get(order.owner);
    owned?.delete(order.id);
    if (owned?.size === 0) this.byOwner.delete(order.owner);
  }
}
