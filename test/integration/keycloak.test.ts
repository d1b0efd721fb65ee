/**
 * Keycloak dev mode started with the realm synthesized into dist/ (ConfigMap labelled app:
 * keycloak), on the public hostname its dist/ Deployment sets (KC_HOSTNAME; back channel on
 * loopback), with the demo users' passwords and client secrets given through the environment.
 * One Keycloak serves the whole file:
 * - discovery, JWKS, client credentials;
 * - authorization code + PKCE for the web client, driven over HTTP; refresh with rotation;
 * - the access tokens' claims against what dist/'s RequestAuthentications and
 *   AuthorizationPolicies expect;
 * - the real tokens fed to `meshward decide` on dist/, against the engine's access matrix;
 * - order-service in `verify` mode against Keycloak's JWKS: real tokens in, tampered and
 *   (genuinely) expired ones out;
 * - Envoy with the gateway's synthesized filters (jwt_authn, local rate limit, body limit) in
 *   front of order-service: 200, 401, 413, 429.
 * Keycloak takes about a minute to start, so the Envoy gateway tests live here too.
 */
import { request as httpRequest } from 'node:http';
import { jwtVerify, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import {
  loadManifests,
  matrix,
  type Manifests,
  type MatrixPrincipal,
  type RequestToken,
} from '../../policies/engine/index.js';
import { anyOf } from '../../policies/engine/match.js';
import { principalOf, workloadsOf, type Workload } from '../../policies/engine/workloads.js';
import {
  distFiles,
  jwtRules,
  requestPrincipalPatterns,
  whenValues,
  type JwtRule,
} from './components/dist.js';
import { startEnvoy } from './components/envoy.js';
import {
  gatewayBootstrap,
  gatewayEnvoyFilters,
  gatewayJwtAuthn,
} from './components/gateway-envoy.js';
import { setClientAttributes } from './components/keycloak.js';
import { decideCalls, type MeshCall } from './components/mesh-decide.js';
import {
  authorize,
  claimsOf,
  clientCredentials,
  exchangeCode,
  jwksUri,
  passwordGrant,
  pkcePair,
  refresh,
  requestToken,
  tampered,
  tokensOf,
  type TokenSet,
} from './components/oidc.js';
import { startOrderService, type OrderService } from './components/order-service.js';
import { freePort, StartedServers } from './components/process.js';
import {
  startShopKeycloak,
  type RealmJsonClient,
  type ShopKeycloak,
} from './components/shop-keycloak.js';

/**
 * The internet client's address as the gateway sees it. dist/'s gateway IP allowlist admits only
 * private ranges, so the client is a private address (a user on the corporate network).
 */
const CLIENT_IP = '192.168.1.10';
const ROLES_CLAIM = 'request.auth.claims[realm_access][roles]';
const SCOPE_CLAIM = 'request.auth.claims[scope]';
const PRESENTER = 'request.auth.presenter';
const LOCAL_RATE_LIMIT = 'envoy.filters.http.local_ratelimit';
const BUFFER = 'envoy.filters.http.buffer';

interface TokenBucket {
  readonly max_tokens: number;
  readonly tokens_per_fill: number;
  readonly fill_interval: string;
}

interface LocalRateLimit {
  /** The whole gateway's bucket. */
  readonly token_bucket: TokenBucket;
  /** The per-client bucket (a wildcard `remote_address` descriptor). */
  readonly descriptors: readonly {
    readonly entries: readonly { readonly key: string }[];
    readonly token_bucket: TokenBucket;
  }[];
  readonly response_headers_to_add?: readonly { readonly header: { key: string; value: string } }[];
}

/** GET `url` from a chosen local address (Node's fetch cannot pick one). */
function statusFrom(url: string, localAddress: string): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = httpRequest(url, { localAddress }, (res) => {
      res.resume();
      res.on('end', () => {
        resolveStatus(res.statusCode ?? 0);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const started = new StartedServers();
let shop: ShopKeycloak;
/** The rule of the gateway's RequestAuthentication: the issuer and audiences at the edge. */
let edgeRule: JwtRule;
let keys: JWTVerifyGetKey;

beforeAll(async () => {
  const rule = jwtRules('istio-system').at(0);
  if (rule === undefined) throw new Error('dist/ has no RequestAuthentication in istio-system');
  edgeRule = rule;
  shop = started.add(await startShopKeycloak());
  keys = createRemoteJWKSet(new URL(jwksUri(shop.endpoint)));
}, 480_000);

afterAll(() => started.stopAll());

function serviceAccountClient(): RealmJsonClient {
  const client = shop.realm.clients?.find((c) => c.serviceAccountsEnabled === true);
  if (client === undefined)
    throw new Error(`realm ${shop.realm.realm} has no service-account client`);
  return client;
}

const audiences = (claims: Record<string, unknown>): unknown[] =>
  Array.isArray(claims.aud) ? claims.aud : [claims.aud];

const realmRoles = (claims: Record<string, unknown>): string[] =>
  (claims.realm_access as { roles?: string[] } | undefined)?.roles ?? [];

const scopes = (claims: Record<string, unknown>): string[] =>
  typeof claims.scope === 'string' ? claims.scope.split(' ') : [];

describe('Keycloak with the dist/ realm', () => {
  test('GIVEN the imported realm WHEN its OpenID discovery document is fetched THEN its issuer is the one every RequestAuthentication of dist/ names', async () => {
    const response = await fetch(
      `${shop.keycloak.url}/realms/${shop.realm.realm}/.well-known/openid-configuration`,
    );
    const discovery = (await response.json()) as { issuer: string };
    const issuers = [...new Set(jwtRules().map((rule) => rule.issuer))];

    expect(response.status).toBe(200);
    expect(issuers).toEqual([discovery.issuer]);
  });

  // Red-team L5: KC_PROXY_TRUSTED_ADDRESSES of dist/ is the sidecar's inbound address.
  test.each([
    ['127.0.0.1 (not the sidecar)', '127.0.0.1', false],
    ["127.0.0.6 (the sidecar's inbound address)", '127.0.0.6', true],
  ])(
    'GIVEN a request from %s with X-Forwarded-Host evil.example.com WHEN the discovery document is fetched THEN Keycloak believes the header only from the sidecar',
    async (_name, localAddress, believed) => {
      const url = new URL(
        `${shop.keycloak.url}/realms/${shop.realm.realm}/.well-known/openid-configuration`,
      );
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpRequest(
          url,
          {
            localAddress,
            headers: {
              'x-forwarded-host': 'evil.example.com',
              'x-forwarded-proto': 'https',
              'x-forwarded-for': '6.6.6.6',
            },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () => {
              resolve(text);
            });
          },
        );
        req.on('error', reject);
        req.end();
      });
      const { jwks_uri: jwks } = JSON.parse(body) as { jwks_uri: string };
      expect(jwks.startsWith('https://evil.example.com/')).toBe(believed);
      if (!believed) expect(jwks.startsWith(shop.keycloak.url)).toBe(true);
    },
  );

  test('GIVEN the imported realm WHEN its JWKS is fetched THEN it holds a signing key', async () => {
    const response = await fetch(jwksUri(shop.endpoint));
    const jwks = (await response.json()) as { keys: { use?: string }[] };

    expect(response.status).toBe(200);
    expect(jwks.keys.some((key) => key.use === 'sig')).toBe(true);
  });

  test('GIVEN each service-account client with its secret from the environment WHEN it asks for a client-credentials token THEN Keycloak issues one', async () => {
    const clients = (shop.realm.clients ?? []).filter((c) => c.serviceAccountsEnabled === true);
    expect(clients.length).toBeGreaterThan(0);

    for (const client of clients) {
      const tokens = await shop.clientToken(client.clientId);

      expect({ client: client.clientId, type: tokens.token_type }).toEqual({
        client: client.clientId,
        type: 'Bearer',
      });
    }
  });

  test('rejects a client-credentials request of a service-account client with a wrong secret', async () => {
    const result = await clientCredentials(shop.endpoint, serviceAccountClient().clientId, 'wrong');

    expect(result.status).toBe(401);
  });

  test("rejects the password grant of a real user at every client, Keycloak's built-in admin-cli included", async () => {
    const user = shop.user(['USER']);
    const clients = ['admin-cli', shop.webClient.clientId, 'account', 'account-console'];

    const results = await Promise.all(
      clients.map(async (clientId) => ({
        clientId,
        issued:
          'tokens' in
          (await passwordGrant(shop.endpoint, clientId, user.username, shop.passwordOf(user))),
      })),
    );

    expect(results).toEqual(clients.map((clientId) => ({ clientId, issued: false })));
  });
});

describe('authorization code + PKCE for the web client', () => {
  const redirectUri = () => shop.webClient.redirectUris?.[0] ?? '';

  test('GIVEN the USER and the ADMIN demo user WHEN each logs in through the login form with an S256 challenge THEN the code exchanged with the verifier yields access, refresh and ID tokens', async () => {
    for (const roles of [['USER'], ['USER', 'ADMIN']]) {
      const user = shop.user(roles);
      const tokens = await shop.login(user);

      const access = claimsOf(tokens.access_token);
      const id = claimsOf(tokens.id_token ?? '');

      expect({
        user: user.username,
        type: tokens.token_type,
        presenter: access.azp,
        refresh: typeof tokens.refresh_token,
        idSubject: id.sub,
        idAudience: id.aud,
      }).toEqual({
        user: user.username,
        type: 'Bearer',
        presenter: shop.webClient.clientId,
        refresh: 'string',
        idSubject: access.sub,
        idAudience: shop.webClient.clientId,
      });
    }
  });

  test('rejects a code exchange with a wrong code verifier', async () => {
    const user = shop.user(['USER']);
    const pkce = pkcePair();
    const { code } = await authorize(shop.endpoint, {
      clientId: shop.webClient.clientId,
      redirectUri: redirectUri(),
      scope: 'openid',
      codeChallenge: pkce.challenge,
      username: user.username,
      password: shop.passwordOf(user),
    });

    const result = await exchangeCode(shop.endpoint, {
      clientId: shop.webClient.clientId,
      redirectUri: redirectUri(),
      code,
      verifier: pkcePair().verifier,
    });

    expect(result).toMatchObject({ status: 400, error: 'invalid_grant' });
  });

  test('rejects an authorization request of the web client without a code challenge', async () => {
    const url = new URL(
      `${shop.keycloak.url}/realms/${shop.realm.realm}/protocol/openid-connect/auth`,
    );
    url.search = new URLSearchParams({
      client_id: shop.webClient.clientId,
      redirect_uri: redirectUri(),
      response_type: 'code',
      scope: 'openid',
      state: 'no-pkce',
    }).toString();

    const response = await fetch(url, { redirect: 'manual' });
    const location = new URL(response.headers.get('location') ?? 'about:blank');

    expect({
      status: response.status,
      target: `${location.origin}${location.pathname}`,
      error: location.searchParams.get('error'),
    }).toEqual({ status: 302, target: redirectUri(), error: 'invalid_request' });
  });
});

describe('refresh with rotation', () => {
  test('GIVEN a logged-in user WHEN the refresh token is used THEN new tokens come back AND the used refresh token is refused afterwards', async () => {
    const first = await shop.login(shop.user(['USER']));
    const oldRefresh = first.refresh_token ?? '';

    const refreshed = tokensOf(
      await refresh(shop.endpoint, shop.webClient.clientId, oldRefresh),
      'first refresh',
    );
    const reused = await refresh(shop.endpoint, shop.webClient.clientId, oldRefresh);

    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(oldRefresh);
    expect(claimsOf(refreshed.access_token).sub).toBe(claimsOf(first.access_token).sub);
    expect(reused).toMatchObject({ status: 400, error: 'invalid_grant' });
  });
});

describe('access-token claims against the dist/ policies', () => {
  function expectMeshIdentity(claims: Record<string, unknown>): void {
    const issuer = String(claims.iss);
    expect(issuer).toBe(edgeRule.issuer);
    for (const audience of edgeRule.audiences ?? []) expect(audiences(claims)).toContain(audience);
    expect(claims.sub).toEqual(expect.stringMatching(/.+/));
    // Istio's request principal is <iss>/<sub>; every pattern of dist/ must accept it.
    const principal = `${issuer}/${String(claims.sub)}`;
    expect(requestPrincipalPatterns().filter((pattern) => !anyOf([pattern])(principal))).toEqual(
      [],
    );
  }

  test('GIVEN each demo user WHEN logged in THEN the access token carries the issuer, audiences and request principal of dist/ AND exactly the user’s realm roles among those the policies check', async () => {
    const checkedRoles = whenValues(ROLES_CLAIM);
    expect(checkedRoles.length).toBeGreaterThan(0);

    for (const user of shop.demoUsers) {
      const claims = claimsOf((await shop.login(user)).access_token);

      expectMeshIdentity(claims);
      expect({
        user: user.username,
        roles: realmRoles(claims)
          .filter((role) => checkedRoles.includes(role))
          .sort(),
      }).toEqual({
        user: user.username,
        roles: (user.realmRoles ?? []).filter((role) => checkedRoles.includes(role)).sort(),
      });
    }
  });

  test('GIVEN the scopes the policies check WHEN the USER and the ADMIN log in asking for them THEN only the ADMIN gets them (the realm grants them to ADMIN), AND nobody without asking', async () => {
    const checkedScopes = whenValues(SCOPE_CLAIM);
    expect(checkedScopes.length).toBeGreaterThan(0);
    const ask = ['openid', ...checkedScopes].join(' ');

    const alice = claimsOf((await shop.login(shop.user(['USER']), ask)).access_token);
    const bob = claimsOf((await shop.login(shop.user(['USER', 'ADMIN']), ask)).access_token);
    const bobPlain = claimsOf((await shop.login(shop.user(['USER', 'ADMIN']))).access_token);

    expect(scopes(alice).filter((scope) => checkedScopes.includes(scope))).toEqual([]);
    expect(scopes(bob)).toEqual(expect.arrayContaining(checkedScopes));
    expect(scopes(bobPlain).filter((scope) => checkedScopes.includes(scope))).toEqual([]);
  });

  test('GIVEN the service-account client WHEN it gets a client-credentials token THEN it carries the mesh identity AND the presenter (azp) the policies name', async () => {
    const client = serviceAccountClient();

    const claims = claimsOf((await shop.clientToken(client.clientId)).access_token);

    expectMeshIdentity(claims);
    expect(whenValues(PRESENTER)).toContain(claims.azp);
    expect(claims.azp).toBe(client.clientId);
  });
});

describe('with real tokens', () => {
  let alice: TokenSet;
  /** alice asking for every scope the policies check: Keycloak leaves out what she may not have. */
  let aliceAskingAll: TokenSet;
  let bob: TokenSet;
  let bobAskingAll: TokenSet;
  let reconciler: TokenSet;

  beforeAll(async () => {
    const askAll = ['openid', ...whenValues(SCOPE_CLAIM)].join(' ');
    alice = await shop.login(shop.user(['USER']));
    aliceAskingAll = await shop.login(shop.user(['USER']), askAll);
    bob = await shop.login(shop.user(['USER', 'ADMIN']));
    bobAskingAll = await shop.login(shop.user(['USER', 'ADMIN']), askAll);
    reconciler = await shop.clientToken(serviceAccountClient().clientId);
  }, 120_000);

  const asRequestToken = (jwt: string): Promise<RequestToken> =>
    requestToken(jwt, { keys, issuer: edgeRule.issuer, audiences: edgeRule.audiences ?? [] });

  /** The token with more roles written into it: its signature no longer matches. */
  const forged = (tokens: TokenSet): string =>
    tampered(tokens.access_token, { realm_access: { roles: ['USER', 'ADMIN'] } });

  describe('meshward decide on dist/', () => {
    let manifests: Manifests;
    let workloads: Workload[];

    beforeAll(() => {
      manifests = loadManifests(distFiles());
      workloads = workloadsOf(manifests);
    });

    const workload = (namespace: string, name: string): Workload => {
      const found = workloads.find((w) => w.namespace === namespace && w.name === name);
      if (found === undefined) throw new Error(`dist/ has no workload ${namespace}/${name}`);
      return found;
    };

    test('GIVEN the real tokens of the USER, the ADMIN and the reconciler WHEN the CLI decides the access-matrix requests THEN each gets the intended outcome', async () => {
      const orders = workload('shop', 'order-service');
      const payments = workload('shop', 'payment-service');
      const fromReconciler = principalOf(workload('shop', 'payment-reconciler'));
      const reconcile = 'POST /api/internal/reconcile';
      const [user, admin, client, bad] = await Promise.all([
        asRequestToken(alice.access_token),
        asRequestToken(bob.access_token),
        asRequestToken(reconciler.access_token),
        asRequestToken(forged(alice)),
      ]);
      // [who, from, to, request, token, expected "outcome status"]
      const cases: [string, string, Workload, string, RequestToken | undefined, string][] = [
        ['USER', 'internet', orders, 'GET /api/orders', user, 'allow 200'],
        ['USER', 'internet', orders, 'GET /api/admin/x', user, 'deny 403'],
        ['ADMIN', 'internet', orders, 'GET /api/admin/x', admin, 'allow 200'],
        ['no token', 'internet', orders, 'GET /api/orders', undefined, 'deny 403'],
        ['forged USER token', 'internet', orders, 'GET /api/orders', bad, 'unauthenticated 401'],
        ['reconciler', fromReconciler, payments, reconcile, client, 'allow 200'],
        ['reconciler with a USER token', fromReconciler, payments, reconcile, user, 'deny 403'],
      ];
      const calls: MeshCall[] = cases.map(([, from, to, request, token]) => {
        const [method = '', path = ''] = request.split(' ');
        return { from, to, method, path, ...(token === undefined ? {} : { token }) };
      });

      const decisions = decideCalls(manifests, calls, CLIENT_IP);

      expect(
        cases.map(([who, , , request], i) => ({
          call: `${who} ${request}`,
          decision: `${String(decisions.at(i)?.outcome)} ${String(decisions.at(i)?.status)}`,
        })),
      ).toEqual(
        cases.map(([who, , , request, , expected]) => ({
          call: `${who} ${request}`,
          decision: expected,
        })),
      );
      expect([user.valid, admin.valid, client.valid, bad.valid]).toEqual([true, true, true, false]);
    });

    test('GIVEN alice (USER) asking for admin:read WHEN she calls GET /api/orders/admin/all THEN her real token lacks the scope and the mesh refuses her; admin-bob with it is allowed', async () => {
      const orders = workload('shop', 'order-service');
      const call = (token: RequestToken): MeshCall => ({
        from: 'internet',
        to: orders,
        method: 'GET',
        path: '/api/orders/admin/all',
        token,
      });
      const [aliceToken, bobToken] = await Promise.all([
        asRequestToken(aliceAskingAll.access_token),
        asRequestToken(bobAskingAll.access_token),
      ]);

      const [forAlice, forBob] = decideCalls(
        manifests,
        [call(aliceToken), call(bobToken)],
        CLIENT_IP,
      );

      expect(scopes(aliceToken.claims)).not.toContain('admin:read');
      expect(scopes(bobToken.claims)).toContain('admin:read');
      expect(`${forAlice.outcome} ${String(forAlice.status)}`).toBe('deny 403');
      expect(`${forBob.outcome} ${String(forBob.status)}`).toBe('allow 200');
    });

    describe('the access matrix of dist/ against the real realm', () => {
      let principals: readonly MatrixPrincipal[];
      /** Each realm principal's real token, minted by this Keycloak for a real user or client. */
      const real = new Map<string, RequestToken>();

      /** A real token for a realm principal: its user logs in through its client asking its scopes. */
      async function mint(p: MatrixPrincipal): Promise<TokenSet> {
        const rp = p.realm;
        if (rp === undefined) throw new Error(`${p.name} is not a realm principal`);
        if (rp.kind === 'client') {
          if (rp.requested.length > 0) throw new Error(`${p.name}: client scopes are not minted`);
          return shop.clientToken(rp.client);
        }
        if (rp.client !== shop.webClient.clientId) {
          throw new Error(`${p.name}: only the web client's logins are driven (${rp.client})`);
        }
        const user = shop.demoUsers.find((u) => rp.holders.includes(u.username));
        if (user === undefined)
          throw new Error(`${p.name}: no demo user holds ${rp.roles.join('+')}`);
        return shop.login(user, ['openid', ...rp.requested].join(' '));
      }

      beforeAll(async () => {
        principals = matrix(manifests, { clientIp: CLIENT_IP }).principals;
        for (const p of principals.filter((x) => x.realm !== undefined)) {
          real.set(p.name, await asRequestToken((await mint(p)).access_token));
        }
      }, 180_000);

      /** What the policies read of a token: issuer, presenter, audiences, scopes, roles, sub. */
      const shape = (claims: Record<string, unknown>) => ({
        iss: claims.iss,
        azp: claims.azp,
        aud: audiences(claims).sort(),
        scope: scopes(claims).sort(),
        roles: realmRoles(claims).sort(),
        sub: typeof claims.sub === 'string' && claims.sub !== '',
      });

      test('GIVEN every principal the matrix has for the realm WHEN Keycloak mints its token for a real user or client THEN the real token carries the claims the matrix assumed', () => {
        const modelled = principals.filter((p) => p.realm !== undefined);
        expect(modelled.length).toBeGreaterThanOrEqual(4);

        expect(
          modelled.map((p) => ({
            principal: p.name,
            claims: shape(real.get(p.name)?.claims ?? {}),
          })),
        ).toEqual(
          modelled.map((p) => ({ principal: p.name, claims: shape(p.token?.claims ?? {}) })),
        );
        expect(modelled.every((p) => real.get(p.name)?.valid === true)).toBe(true);
      });

      test('GIVEN each kind of user asking for every optional scope of the web client THEN Keycloak grants exactly what the matrix says they can obtain', async () => {
        const askAll = ['openid', ...(shop.webClient.optionalClientScopes ?? [])].join(' ');
        const users = principals.filter((p) => p.realm?.kind === 'user');
        const rows: { roles: string; real: string[]; matrix: string[] }[] = [];
        for (const roleSet of new Set(users.map((p) => p.realm?.roles.join('+') ?? ''))) {
          const withMost = users
            .filter((p) => p.realm?.roles.join('+') === roleSet)
            .sort((a, b) => (b.realm?.requested.length ?? 0) - (a.realm?.requested.length ?? 0))
            .at(0);
          const user = shop.demoUsers.find((u) => withMost?.realm?.holders.includes(u.username));
          if (user === undefined) throw new Error(`no demo user holds ${roleSet}`);
          const token = claimsOf((await shop.login(user, askAll)).access_token);
          rows.push({
            roles: roleSet,
            real: scopes(token).sort(),
            matrix: scopes(withMost?.token?.claims ?? {}).sort(),
          });
        }

        expect(rows.map((r) => ({ roles: r.roles, scopes: r.real }))).toEqual(
          rows.map((r) => ({ roles: r.roles, scopes: r.matrix })),
        );
        expect(rows.find((r) => r.roles === 'USER')?.real).not.toContain('admin:read');
      });

      test('GIVEN every matrix cell whose principal has a real token (or none, or a forged one) WHEN the CLI decides it with that token THEN it gives the cell’s outcome', async () => {
        const m = matrix(manifests, { clientIp: CLIENT_IP });
        const forgedToken = await asRequestToken(forged(alice));
        const tokenOf = (principal: string): RequestToken | undefined | null => {
          if (principal === 'no token') return undefined;
          if (principal === 'forged') return forgedToken;
          return real.get(principal) ?? null;
        };
        const cells = m.cells.filter((cell) => tokenOf(cell.principal) !== null);
        const calls: MeshCall[] = cells.map((cell) => {
          const caller = m.callers.find((c) => c.name === cell.caller);
          const [namespace = '', name = ''] = cell.service.split('/');
          const token = tokenOf(cell.principal) ?? undefined;
          return {
            from: caller?.kind === 'gateway' ? 'internet' : (caller?.principal ?? 'plaintext'),
            ...(caller === undefined ? {} : { fromPod: caller.pod }),
            to: workload(namespace, name),
            method: cell.method,
            path: cell.path,
            ...(token === undefined ? {} : { token }),
          };
        });

        const decisions = decideCalls(manifests, calls, CLIENT_IP);
        const differences = cells
          .map((cell, i) => ({
            cell: `${cell.service} ${cell.method} ${cell.path} from ${cell.caller} with ${cell.principal}`,
            matrix: `${cell.outcome} ${String(cell.status)}`,
            real: `${String(decisions.at(i)?.outcome)} ${String(decisions.at(i)?.status)}`,
          }))
          .filter((d) => d.matrix !== d.real);
        const skipped = m.cells.length - cells.length;
        process.stderr.write(
          `[keycloak] matrix cells compared with real tokens: ${String(cells.length)} of ${String(m.cells.length)} (${String(skipped)} 'other issuer' cells have no real token)\n`,
        );

        expect(new Set(cells.map((cell) => cell.principal))).toEqual(
          new Set(m.principals.filter((p) => p.kind !== 'other-issuer').map((p) => p.name)),
        );
        expect(cells.filter((cell) => cell.outcome === 'allow').length).toBeGreaterThan(0);
        expect(differences).toEqual([]);
      });
    });
  });

  describe('order-service in verify mode', () => {
    let service: OrderService;

    beforeAll(async () => {
      service = started.add(
        await startOrderService('order-service-verify', {
          AUTH_MODE: 'verify',
          JWKS_URI: jwksUri(shop.endpoint),
          // exp is checked to the second, so the expired token below need not age 30 s more
          JWT_CLOCK_TOLERANCE_SECONDS: '0',
        }),
      );
    }, 120_000);

    const getOrders = (jwt: string) =>
      fetch(`${service.url}/api/orders`, { headers: { authorization: `Bearer ${jwt}` } });

    test('GIVEN the issuer and audience dist/ configures WHEN the real tokens of the users are presented THEN order-service accepts each, AND refuses the reconciler, which no route of its intent admits', async () => {
      const statuses = await Promise.all(
        [alice, bob, reconciler].map(
          async (tokens) => (await getOrders(tokens.access_token)).status,
        ),
      );

      expect(service.env).toMatchObject({ JWT_ISSUER: edgeRule.issuer });
      expect(statuses).toEqual([200, 200, 403]);
    });

    test('GIVEN alice asking for admin:read and admin-bob asking for it WHEN each reads every order and the admin stats THEN order-service itself refuses alice (403) and serves admin-bob (200)', async () => {
      const get = (path: string, jwt: string) =>
        fetch(`${service.url}${path}`, { headers: { authorization: `Bearer ${jwt}` } }).then(
          (r) => r.status,
        );

      const statuses = {
        aliceAll: await get('/api/orders/admin/all', aliceAskingAll.access_token),
        aliceStats: await get('/api/admin/stats', aliceAskingAll.access_token),
        bobAll: await get('/api/orders/admin/all', bobAskingAll.access_token),
        bobAllWithoutScope: await get('/api/orders/admin/all', bob.access_token),
        bobStats: await get('/api/admin/stats', bob.access_token),
      };

      expect(statuses).toEqual({
        aliceAll: 403,
        aliceStats: 403,
        bobAll: 200,
        bobAllWithoutScope: 403,
        bobStats: 200,
      });
    });

    test('rejects a real token whose claims were changed after signing with 401', async () => {
      const response = await getOrders(forged(alice));

      expect(response.status).toBe(401);
    });

    test('rejects a genuinely expired Keycloak token with 401', async () => {
      const client = serviceAccountClient();
      const restore = await setClientAttributes(shop.keycloak, shop.realm.realm, client.clientId, {
        'access.token.lifespan': '1',
      });
      let shortLived: string;
      try {
        shortLived = (await shop.clientToken(client.clientId)).access_token;
      } finally {
        await restore();
      }
      const { iat = 0, exp = 0 } = claimsOf(shortLived);
      // The token's own expiry is the event: wait until the clock has passed it.
      await new Promise((resolveWait) => setTimeout(resolveWait, exp * 1000 + 1000 - Date.now()));

      const response = await getOrders(shortLived);
      const genuine = await jwtVerify(shortLived, keys, {
        issuer: edgeRule.issuer,
        currentDate: new Date(iat * 1000),
      }).then(
        () => true,
        () => false,
      );
      const afterRestore = claimsOf((await shop.clientToken(client.clientId)).access_token);

      expect({ lifespan: exp - iat, genuine, status: response.status }).toEqual({
        lifespan: 1,
        genuine: true,
        status: 401,
      });
      expect((afterRestore.exp ?? 0) - (afterRestore.iat ?? 0)).toBe(
        shop.realm.accessTokenLifespan,
      );
    });
  });

  /**
   * Envoy with the ingress gateway's filters from dist/ in front of order-service: jwt_authn built
   * from the gateway's RequestAuthentication (JWKS fetched by Envoy from this Keycloak), then the
   * local-rate-limit and buffer filters with their `typed_config` taken unchanged from dist/'s
   * EnvoyFilters. order-service runs as dist/ configures it (AUTH_MODE mesh: it trusts the token
   * the gateway forwarded). Envoy's own answers carry no `x-request-id`; order-service sets one on
   * every response, so a response tells who answered.
   */
  describe('Envoy with the gateway filters of dist/ in front of order-service', () => {
    let rateLimit: LocalRateLimit;
    let maxRequestBytes: number;
    /** The listener of the single requests; the burst gets its own (its own token bucket). */
    let gatewayUrl: string;
    let burstUrl: string;

    beforeAll(async () => {
      const filters = gatewayEnvoyFilters([LOCAL_RATE_LIMIT, BUFFER]);
      rateLimit = filters.find((f) => f.name === LOCAL_RATE_LIMIT)
        ?.typed_config as unknown as LocalRateLimit;
      maxRequestBytes = Number(
        filters.find((f) => f.name === BUFFER)?.typed_config.max_request_bytes,
      );
      const orderService = started.add(
        await startOrderService('order-service-gateway', { JWKS_URI: jwksUri(shop.endpoint) }),
      );
      const [gatewayPort, burstPort] = [await freePort(), await freePort()];
      started.add(
        await startEnvoy(
          'gateway',
          gatewayBootstrap({
            listeners: { gateway: gatewayPort, burst: burstPort },
            filters: [gatewayJwtAuthn(new URL(shop.keycloak.url).origin, 'keycloak'), ...filters],
            clusters: {
              'order-service': Number(new URL(orderService.url).port),
              keycloak: Number(new URL(shop.keycloak.url).port),
            },
          }),
        ),
      );
      gatewayUrl = `http://127.0.0.1:${String(gatewayPort)}`;
      burstUrl = `http://127.0.0.1:${String(burstPort)}`;
    }, 120_000);

    const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` });

    test('GIVEN a real USER token WHEN GET /api/orders passes the gateway filters THEN order-service answers 200 with the forwarded token', async () => {
      const response = await fetch(`${gatewayUrl}/api/orders`, {
        headers: bearer(alice.access_token),
      });

      expect(response.status).toBe(200);
      expect(response.headers.get('x-request-id')).not.toBeNull();
      expect(await response.json()).toEqual({ orders: [] });
    });

    test('rejects a forged and a malformed bearer token with 401 before order-service', async () => {
      for (const token of [forged(alice), 'not-a-jwt']) {
        const response = await fetch(`${gatewayUrl}/api/orders`, { headers: bearer(token) });

        expect({
          status: response.status,
          challenge: response.headers.get('www-authenticate'),
          requestId: response.headers.get('x-request-id'),
        }).toEqual({
          status: 401,
          challenge: expect.stringContaining('invalid_token'),
          requestId: null,
        });
      }
    });

    test('GIVEN a forged token in ?access_token= WHEN it passes the gateway THEN Envoy does not read it (dist/ reads the header only): order-service answers, and refuses it', async () => {
      const inQuery = await fetch(
        `${gatewayUrl}/api/orders?access_token=${encodeURIComponent(forged(alice))}`,
      );
      const inHeader = await fetch(`${gatewayUrl}/api/orders`, { headers: bearer(forged(alice)) });

      expect({
        status: inQuery.status,
        answeredByOrderService: inQuery.headers.get('x-request-id') !== null,
      }).toEqual({ status: 401, answeredByOrderService: true });
      expect(inHeader.headers.get('x-request-id')).toBeNull();
    });

    test('GIVEN the body limit of dist/ WHEN a POST body is one byte over it THEN Envoy answers 413 AND a body of exactly the limit reaches order-service', async () => {
      expect(maxRequestBytes).toBeGreaterThan(0);
      const post = (bytes: number) =>
        fetch(`${gatewayUrl}/api/orders`, {
          method: 'POST',
          headers: { ...bearer(alice.access_token), 'content-type': 'application/json' },
          body: 'x'.repeat(bytes),
        });

      const over = await post(maxRequestBytes + 1);
      const atLimit = await post(maxRequestBytes);

      expect({ status: over.status, requestId: over.headers.get('x-request-id') }).toEqual({
        status: 413,
        requestId: null,
      });
      expect(atLimit.headers.get('x-request-id')).not.toBeNull();
    });

    test('GIVEN the per-client token bucket of dist/ WHEN one client bursts three buckets at once THEN its bucket passes, the rest get 429 with the rate-limit header of dist/, AND another client is still served (red-team M5)', async () => {
      const perClient = rateLimit.descriptors.find((d) =>
        d.entries.some((e) => e.key === 'remote_address'),
      );
      expect(perClient).toBeDefined();
      const bucket = perClient?.token_bucket ?? rateLimit.token_bucket;
      expect(rateLimit.token_bucket.max_tokens).toBeGreaterThan(3 * bucket.max_tokens);
      const fillSeconds = Number(/^(\d+(?:\.\d+)?)s$/.exec(bucket.fill_interval)?.[1]);
      const headers = (rateLimit.response_headers_to_add ?? []).map((h) => h.header);
      expect(headers.length).toBeGreaterThan(0);

      const startedAt = Date.now();
      const responses = await Promise.all(
        Array.from({ length: 3 * bucket.max_tokens }, () =>
          fetch(`${burstUrl}/api/public/catalog`).then(async (response) => {
            await response.arrayBuffer();
            return response;
          }),
        ),
      );
      // Client A (127.0.0.1) is at its limit now; client B has a bucket of its own.
      const otherClient = await statusFrom(`${burstUrl}/api/public/catalog`, '127.0.0.2');
      // The bucket starts full and refills tokens_per_fill every fill_interval during the burst.
      const fills = Math.floor((Date.now() - startedAt) / (fillSeconds * 1000)) + 1;
      const passed = responses.filter((r) => r.status === 200).length;
      const limited = responses.filter((r) => r.status === 429);

      expect(passed + limited.length).toBe(responses.length);
      expect(passed).toBeGreaterThanOrEqual(bucket.max_tokens);
      expect(passed).toBeLessThanOrEqual(bucket.max_tokens + fills * bucket.tokens_per_fill);
      expect(limited.length).toBeGreaterThan(0);
      expect(otherClient).toBe(200);
      for (const response of limited) {
        for (const header of headers) expect(response.headers.get(header.key)).toBe(header.value);
        expect(response.headers.get('x-request-id')).toBeNull();
      }
    });
  });
});
