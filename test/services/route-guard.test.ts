import type { ClaimFormat, ClaimPath } from '../../contract/claims.js';
import { KEYCLOAK_ROLES_CLAIM, PRESENTER_KEY, SCOPE_KEY } from '../../contract/claims.js';
import type { RouteEntry } from '../../contract/routes.js';
import type { Identity } from '../../services/shared/identity.js';
import { createRouteGuard } from '../../services/shared/route-guard.js';

const ISS = 'https://auth.shop.example.com/realms/shop';
const ROLES_KEY = 'request.auth.claims[realm_access][roles]';
const AUTH0_ROLES = 'https://shop.example.com/roles';

/** A token-protected GET /api/orders route for ISS / shop-api; `over` changes fields. */
function route(over: Partial<RouteEntry> = {}): RouteEntry {
  return {
    methods: ['GET'],
    paths: ['/api/orders'],
    principals: ['cluster.local/ns/shop/sa/caller'],
    public: false,
    issuer: ISS,
    audiences: ['shop-api'],
    when: [],
    ...over,
  };
}

/** An identity whose claims are a USER token of ISS for shop-api unless `claims` says otherwise. */
function caller(claims: Record<string, unknown> = {}): Identity {
  return {
    subject: 'alice',
    roles: [],
    scopes: [],
    claims: {
      iss: ISS,
      aud: 'shop-api',
      sub: 'alice',
      realm_access: { roles: ['USER'] },
      ...claims,
    },
    token: 't',
  };
}

function allows(
  routes: RouteEntry[],
  method: string,
  path: string,
  identity: Identity = caller(),
  roles: { rolesClaim?: ClaimPath; rolesClaimFormat?: ClaimFormat } = {},
): boolean {
  return createRouteGuard({
    routes,
    rolesClaim: roles.rolesClaim ?? KEYCLOAK_ROLES_CLAIM,
    rolesClaimFormat: roles.rolesClaimFormat ?? 'list',
  }).allows(method, path, identity);
}

describe('route guard (the service enforces its meshward.io/routes intent)', () => {
  test('GIVEN an exact path WHEN the request path differs by a segment, a slash or case THEN it is denied', () => {
    const routes = [route()];
    expect(allows(routes, 'GET', '/api/orders')).toBe(true);
    expect(allows(routes, 'GET', '/api/orders/')).toBe(false);
    expect(allows(routes, 'GET', '/api/orders/1')).toBe(false);
    expect(allows(routes, 'GET', '/api/Orders')).toBe(false);
  });

  test('GIVEN a /x/* prefix path WHEN a request is under it THEN it is allowed, beside it denied', () => {
    const routes = [route({ paths: ['/api/admin/*'] })];
    expect(allows(routes, 'GET', '/api/admin/stats')).toBe(true);
    expect(allows(routes, 'GET', '/api/admin/stats/deep')).toBe(true);
    expect(allows(routes, 'GET', '/api/admin')).toBe(false);
    expect(allows(routes, 'GET', '/api/administrator')).toBe(false);
  });

  test('GIVEN a {*} template WHEN the request has one non-empty segment there THEN it is allowed, more or none denied', () => {
    const routes = [route({ paths: ['/api/orders/{*}'] })];
    expect(allows(routes, 'GET', '/api/orders/42')).toBe(true);
    expect(allows(routes, 'GET', '/api/orders/admin/all')).toBe(false);
    expect(allows(routes, 'GET', '/api/orders/')).toBe(false);
    expect(allows(routes, 'GET', '/api/orders')).toBe(false);
  });

  test('GIVEN methods GET WHEN POST or HEAD arrives THEN it is denied; GIVEN methods null THEN every method is allowed', () => {
    expect(allows([route()], 'POST', '/api/orders')).toBe(false);
    expect(allows([route()], 'HEAD', '/api/orders')).toBe(false);
    const any = [route({ methods: null })];
    for (const method of ['GET', 'POST', 'DELETE', 'PATCH']) {
      expect(allows(any, method, '/api/orders')).toBe(true);
    }
  });

  test('GIVEN a public entry WHEN a token of another issuer and audience calls it THEN it is allowed', () => {
    const routes = [route({ public: true, audiences: [], paths: ['/api/public/*'] })];
    const stranger = caller({ iss: 'https://evil.example', aud: 'other', realm_access: {} });
    expect(allows(routes, 'GET', '/api/public/catalog', stranger)).toBe(true);
    expect(allows(routes, 'GET', '/api/orders', stranger)).toBe(false);
  });

  test('rejects a token of another issuer, or one without iss', () => {
    const routes = [route()];
    expect(allows(routes, 'GET', '/api/orders', caller({ iss: 'https://evil.example' }))).toBe(
      false,
    );
    expect(allows(routes, 'GET', '/api/orders', caller({ iss: undefined }))).toBe(false);
  });

  test('rejects a token for another audience, and accepts one audience of a list', () => {
    const routes = [route()];
    expect(allows(routes, 'GET', '/api/orders', caller({ aud: 'account' }))).toBe(false);
    expect(allows(routes, 'GET', '/api/orders', caller({ aud: ['account', 'shop-api'] }))).toBe(
      true,
    );
    // a route whose issuer names no audience accepts any
    expect(allows([route({ audiences: [] })], 'GET', '/api/orders', caller({ aud: 'x' }))).toBe(
      true,
    );
  });

  test('GIVEN role and scope conditions WHEN the token lacks one THEN it is denied (conditions are ANDed)', () => {
    const routes = [
      route({
        when: [
          { key: ROLES_KEY, values: ['ADMIN'] },
          { key: SCOPE_KEY, values: ['admin:read'] },
        ],
      }),
    ];
    const user = { realm_access: { roles: ['USER'] } };
    const admin = { realm_access: { roles: ['USER', 'ADMIN'] } };
    expect(allows(routes, 'GET', '/api/orders', caller({ ...user, scope: 'admin:read' }))).toBe(
      false,
    );
    expect(allows(routes, 'GET', '/api/orders', caller({ ...admin, scope: 'openid' }))).toBe(false);
    expect(
      allows(routes, 'GET', '/api/orders', caller({ ...admin, scope: 'openid admin:read' })),
    ).toBe(true);
  });

  test('GIVEN a space-delimited roles claim WHEN the role is one of its words THEN it is allowed, only when so configured', () => {
    const routes = [route({ when: [{ key: 'request.auth.claims[roles]', values: ['ADMIN'] }] })];
    const token = caller({ roles: 'USER ADMIN' });
    const spaced = { rolesClaim: ['roles'], rolesClaimFormat: 'space-delimited' as const };
    expect(allows(routes, 'GET', '/api/orders', token, spaced)).toBe(true);
    expect(allows(routes, 'GET', '/api/orders', caller({ roles: 'USER' }), spaced)).toBe(false);
    // read as a list, the string is one value 'USER ADMIN', which is not 'ADMIN'
    expect(allows(routes, 'GET', '/api/orders', token, { rolesClaim: ['roles'] })).toBe(false);
  });

  test('GIVEN an Auth0-style top-level roles claim WHEN its list holds the role THEN it is allowed', () => {
    const routes = [
      route({ when: [{ key: `request.auth.claims[${AUTH0_ROLES}]`, values: ['ADMIN'] }] }),
    ];
    const auth0 = { rolesClaim: [AUTH0_ROLES] };
    expect(
      allows(routes, 'GET', '/api/orders', caller({ [AUTH0_ROLES]: ['USER', 'ADMIN'] }), auth0),
    ).toBe(true);
    expect(allows(routes, 'GET', '/api/orders', caller({ [AUTH0_ROLES]: ['USER'] }), auth0)).toBe(
      false,
    );
  });

  test('GIVEN a presenter condition WHEN azp is another client THEN it is denied', () => {
    const routes = [route({ when: [{ key: PRESENTER_KEY, values: ['payment-reconciler'] }] })];
    expect(allows(routes, 'GET', '/api/orders', caller({ azp: 'payment-reconciler' }))).toBe(true);
    expect(allows(routes, 'GET', '/api/orders', caller({ azp: 'shop-web' }))).toBe(false);
  });

  test('rejects a request no entry matches, and everything when there are no entries', () => {
    const routes = [route(), route({ methods: ['POST'], paths: ['/api/payments'] })];
    expect(allows(routes, 'GET', '/api/payments')).toBe(false);
    expect(allows(routes, 'GET', '/api/unknown')).toBe(false);
    expect(allows([], 'GET', '/api/orders')).toBe(false);
  });

  test('GIVEN two entries for one path WHEN the token meets only the second THEN it is allowed (any entry)', () => {
    const routes = [
      route({ when: [{ key: ROLES_KEY, values: ['ADMIN'] }] }),
      route({ when: [{ key: ROLES_KEY, values: ['USER'] }] }),
    ];
    expect(allows(routes, 'GET', '/api/orders')).toBe(true);
  });

  test('GIVEN an entry with principals WHEN any token meets it THEN principals are not checked (only the mesh sees them)', () => {
    const routes = [route({ principals: ['cluster.local/ns/shop/sa/nobody'] })];
    expect(allows(routes, 'GET', '/api/orders')).toBe(true);
  });
});
