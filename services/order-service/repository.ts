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

  save(order: Order): Promise<void> {
    this.orders.set(order.id, order);
    return Promise.resolve();
  }

  get(id: string): Promise<Order | undefined> {
    return Promise.resolve(this.orders.get(id));
  }

  listByOwner(owner: string): Promise<readonly Order[]> {
    return Promise.resolve([...this.orders.values()].filter((o) => o.owner === owner));
  }

  listAll(): Promise<readonly Order[]> {
    return Promise.resolve([...this.orders.values()]);
  }

  delete(id: string): Promise<boolean> {
    return Promise.resolve(this.orders.delete(id));
  }
}
