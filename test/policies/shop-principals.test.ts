/**
 * The shop's access matrix in terms of real principals: every column is a token the shop realm
 * really issues to someone (or no token, a forged one, another issuer's), and for every route
 * the principals the mesh lets through are exactly those the route is meant for, written here
 * by hand from what each route is for. This is the test that would have caught "any customer
 * can read every order": a scope any user could obtain made alice's token a column allowed on
 * GET /api/orders/admin/all.
 */
import { join } from 'node:path';
import { loadManifests, matrix, mismatches } from '../../policies/engine/index.js';
import { unfixedShopDir } from '../support/unfixed-shop.js';

const m = matrix(loadManifests([join(process.cwd(), 'dist')]), { clientIp: '192.168.1.10' });

const CUSTOMER = 'USER';
const STAFF = 'USER+ADMIN';
const STAFF_READING_ALL = 'USER+ADMIN +admin:read';
const RECONCILER = 'payment-reconciler (client)';
const USERS = [CUSTOMER, STAFF, STAFF_READING_ALL];
const ANYONE = ['no token', ...USERS, RECONCILER];
const GATEWAY = 'internet (gateway)';

/** `<service> <method> <path> from <caller>` → the principals the route is for. */
const INTENDED: Record<string, string[]> = {
  'shop/order-service GET /api/public/x from internet (gateway)': ANYONE,
  'shop/order-service GET /api/orders from internet (gateway)': USERS,
  'shop/order-service POST /api/orders from internet (gateway)': USERS,
  'shop/order-service GET /api/orders/o-1 from internet (gateway)': USERS,
  'shop/order-service DELETE /api/orders/o-1 from internet (gateway)': USERS,
  'shop/order-service GET /api/orders/admin/all from internet (gateway)': [STAFF_READING_ALL],
  'shop/order-service GET /api/admin/x from internet (gateway)': [STAFF, STAFF_READING_ALL],
  'shop/payment-service POST /api/payments from shop/order-service': USERS,
  'shop/payment-service GET /api/payments/o-1 from shop/order-service': USERS,
  'shop/payment-service POST /api/internal/reconcile from shop/payment-reconciler': [RECONCILER],
};

describe('the shop matrix speaks of real principals', () => {
  test('every column is a real principal: a kind of user of the realm, a client, or no/forged/foreign token', () => {
    expect(
      m.principals.map((p) => `${p.kind} ${p.name} ${p.realm?.holders.join(',') ?? ''}`),
    ).toEqual([
      'none no token ',
      `user ${CUSTOMER} alice,customer`,
      `user ${STAFF} admin-bob,staff`,
      `user ${STAFF_READING_ALL} admin-bob,staff`,
      `client ${RECONCILER} payment-reconciler`,
      'forged forged ',
      'other-issuer other issuer ',
    ]);
  });

  test('GIVEN the realm grants admin:read to ADMIN only THEN no customer principal carries it', () => {
    const customer = m.principals.filter((p) => p.realm?.roles.join('+') === CUSTOMER);
    expect(customer.map((p) => String(p.token?.claims.scope))).toEqual(['openid profile']);
  });

  test('for every route, the principals let through from its caller are exactly those it is for', () => {
    const allowed = new Map<string, string[]>();
    for (const c of m.cells) {
      const key = `${c.service} ${c.method} ${c.path} from ${c.caller}`;
      if (!allowed.has(key)) allowed.set(key, []);
      if (c.outcome === 'allow') allowed.get(key)?.push(c.principal);
    }
    const shopRoutes = [...allowed.entries()].filter(
      ([key, who]) =>
        key.startsWith('shop/order-service ') ||
        key.startsWith('shop/payment-service ') ||
        (key.startsWith('shop/shop-web ') && who.length > 0),
    );

    expect(
      Object.fromEntries(
        shopRoutes.filter(([key, who]) => who.length > 0 && !key.startsWith('shop/shop-web ')),
      ),
    ).toEqual(INTENDED);
    // shop-web serves static files to anyone through the gateway, to nobody else.
    for (const [key, who] of shopRoutes.filter(([k]) => k.startsWith('shop/shop-web '))) {
      expect({ key, who }).toEqual({
        key: expect.stringMatching(/ from internet \(gateway\)$/),
        who: ANYONE,
      });
    }
  });

  test('no principal reaches a shop route from a caller the route does not name', () => {
    const intendedCallers = new Set(Object.keys(INTENDED));
    const strays = m.cells.filter(
      (c) =>
        c.outcome === 'allow' &&
        c.service !== 'auth/keycloak' &&
        c.service !== 'shop/shop-web' &&
        !intendedCallers.has(`${c.service} ${c.method} ${c.path} from ${c.caller}`),
    );
    expect(
      strays.map((c) => `${c.service} ${c.method} ${c.path} ${c.caller} ${c.principal}`),
    ).toEqual([]);
    expect(m.cells.some((c) => c.caller === GATEWAY && c.outcome === 'allow')).toBe(true);
  });
});

describe('the same checks on the shop before the fix', () => {
  const unfixed = matrix(loadManifests([unfixedShopDir()]), { clientIp: '192.168.1.10' });

  test('GIVEN admin:read obtainable by anyone THEN the matrix has a customer column carrying it, allowed on GET /api/orders/admin/all, while the intent agrees', () => {
    const allowed = unfixed.cells
      .filter(
        (c) => c.path === '/api/orders/admin/all' && c.caller === GATEWAY && c.outcome === 'allow',
      )
      .map((c) => c.principal);

    expect(allowed).toEqual([`${CUSTOMER} +admin:read`, STAFF_READING_ALL]);
    // The intent says "a token with admin:read": the matrix alone cannot see the hole.
    expect(mismatches(unfixed)).toEqual([]);
    expect(allowed).not.toEqual(
      INTENDED['shop/order-service GET /api/orders/admin/all from internet (gateway)'],
    );
  });
});
