import type { Order } from '../../services/order-service/repository.js';
import { InMemoryOrderRepository } from '../../services/order-service/repository.js';

function order(id: string, owner: string): Order {
  return {
    id,
    owner,
    items: [{ sku: 'MW-MUG', quantity: 1 }],
    totalCents: 1200,
    currency: 'EUR',
    paymentId: `pay-${id}`,
    status: 'paid',
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

describe('in-memory order repository', () => {
  test('lists only the owner’s orders, in the order they were saved', async () => {
    // GIVEN orders of two owners, interleaved
    const repo = new InMemoryOrderRepository();
    for (const [id, owner] of [
      ['1', 'alice'],
      ['2', 'bob'],
      ['3', 'alice'],
      ['4', 'alice'],
    ] as const) {
      await repo.save(order(id, owner));
    }
    // WHEN one is saved again and one deleted
    await repo.save(order('1', 'alice'));
    expect(await repo.delete('3')).toBe(true);
    expect(await repo.delete('3')).toBe(false);
    // THEN each owner sees exactly their remaining orders, and listAll sees everyone's
    expect((await repo.listByOwner('alice')).map((o) => o.id)).toEqual(['1', '4']);
    expect((await repo.listByOwner('bob')).map((o) => o.id)).toEqual(['2']);
    expect(await repo.listByOwner('carol')).toEqual([]);
    expect((await repo.listAll()).map((o) => o.id)).toEqual(['1', '2', '4']);
  });

  test('an owner with no orders left lists nothing, and a re-owned order moves', async () => {
    const repo = new InMemoryOrderRepository();
    await repo.save(order('1', 'bob'));
    await repo.delete('1');
    expect(await repo.listByOwner('bob')).toEqual([]);
    await repo.save(order('2', 'bob'));
    await repo.save(order('2', 'carol'));
    expect(await repo.listByOwner('bob')).toEqual([]);
    expect((await repo.listByOwner('carol')).map((o) => o.id)).toEqual(['2']);
  });
});
