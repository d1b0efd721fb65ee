/**
 * shop-web in a real browser (Debian Chromium driven by playwright-core) against the real
 * Keycloak with the synthesized realm, order-service and payment-service in verify mode, and
 * shop-web's own server with the esbuild bundle — on the production origins through a local
 * TLS edge (see components/shop-web-stack.ts for why, and what the edge does not enforce).
 *
 * One realm override, for the token-expiry scenarios: access tokens live 40 s instead of 300 s,
 * so the app's renewal (30 s before expiry) happens within seconds. Screenshots of every step go
 * to .cache/artefacts/shop-web/ (git-ignored).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt, type JWTPayload } from 'jose';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type Decision, loadManifests } from '../../policies/engine/index.js';
import { workloadsOf } from '../../policies/engine/workloads.js';
import { shopWebConfig } from '../../policies/shop-web.js';
import { buildShopWeb } from '../../scripts/build-web.js';
import { deploymentEnv, distFiles } from './components/dist.js';
import { adminApi } from './components/keycloak.js';
import { decideHops } from './components/mesh-decide.js';
import { jwksUri } from './components/oidc.js';
import {
  registerProcessGroup,
  runDir,
  StartedServers,
  startNodeService,
} from './components/process.js';
import { type ShopKeycloak, startShopKeycloak } from './components/shop-keycloak.js';
import { AUTH_HOST, type Edge, SHOP_HOST, startEdge } from './components/shop-web-stack.js';
import { repoRoot } from './components/tools.js';

const TEST_ACCESS_TOKEN_LIFESPAN = 40;
/** The internet client's address: dist/'s gateway IP allowlist admits only private ranges. */
const CLIENT_IP = '192.168.1.10';
const SHOP = `https://${SHOP_HOST}`;
const artefacts = join(repoRoot, '.cache/artefacts/shop-web');

let shop: ShopKeycloak | undefined;
let edge: Edge | undefined;
let browser: Browser | undefined;
const started = new StartedServers();
/** An access token each user's page sent to the API (captured from the browser's requests). */
const apiTokens = new Map<string, string>();

beforeAll(async () => {
  // Overwritten file by file, never emptied: another run of the tier may be writing here too.
  mkdirSync(artefacts, { recursive: true });
  const kc = started.add(
    await startShopKeycloak({
      realm: (realm) => ({ ...realm, accessTokenLifespan: TEST_ACCESS_TOKEN_LIFESPAN }),
    }),
  );
  shop = kc;

  const auth = {
    AUTH_MODE: 'verify',
    JWT_ISSUER: shopWebConfig.authority,
    JWT_AUDIENCE: 'shop-api',
    JWKS_URI: jwksUri(kc.endpoint),
  };
  // Each service enforces its own route intent, as its dist/ Deployment gives it.
  const intentOf = (name: string) => {
    const env = deploymentEnv('shop', name);
    // A missing variable stops the service with a ConfigError naming it.
    return { MESHWARD_ROUTES: env.MESHWARD_ROUTES, JWT_ROLES_CLAIM: env.JWT_ROLES_CLAIM };
  };
  const payments = started.add(
    await startNodeService('payment-service', 'services/payment-service/server.ts', {
      ...auth,
      ...intentOf('payment-service'),
    }),
  );
  const orders = started.add(
    await startNodeService('order-service', 'services/order-service/server.ts', {
      ...auth,
      ...intentOf('order-service'),
      PAYMENT_SERVICE_URL: payments.url,
    }),
  );

  // The bundle as `npm run build:web` builds it, config.json generated from the intent.
  const publicDir = join(runDir, 'shop-web-public');
  await buildShopWeb(publicDir);
  const web = started.add(
    await startNodeService('shop-web', 'services/shop-web/server.ts', { PUBLIC_DIR: publicDir }),
  );

  const gateway = started.add(
    await startEdge({ keycloak: kc.endpoint.url, api: orders.url, web: web.url }),
  );
  edge = gateway;
  // A browser server (its own process group, registered like every other server of the run,
  // so run.sh kills it even if jest dies), then a client connection to it.
  const chromiumServer = await chromium.launchServer({
    executablePath: '/usr/bin/chromium',
    proxy: { server: gateway.proxyUrl },
  });
  started.add({ stop: () => chromiumServer.close() });
  const pid = chromiumServer.process().pid;
  if (pid !== undefined) registerProcessGroup(pid);
  const launched = await chromium.connect(chromiumServer.wsEndpoint());
  browser = launched;
  started.add({ stop: () => launched.close() });
}, 600_000);

// Runs even when beforeAll failed halfway, and stops what had been started by then.
afterAll(() => started.stopAll(), 120_000);

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is missing`);
  return value;
}

/** A fresh browser context; `tokens` collects the bearer tokens the page sends to the API. */
async function newPage(): Promise<{ context: BrowserContext; page: Page; tokens: string[] }> {
  const context = await need(browser, 'chromium').newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1100, height: 720 },
  });
  const page = await context.newPage();
  const tokens: string[] = [];
  page.on('request', (req) => {
    const authorization = req.headers().authorization as string | undefined;
    if (req.url().startsWith(`${SHOP}/api/`) && authorization?.startsWith('Bearer ')) {
      tokens.push(authorization.slice('Bearer '.length));
    }
  });
  return { context, page, tokens };
}

/** Polls a condition of the test's own state (the page's requests), failing after `timeoutMs`. */
async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolveTick) => setTimeout(resolveTick, 100));
  }
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(artefacts, `${name}.png`), fullPage: true });
}

/** The page's storage: tokens must never be in it; login state only while a login runs. */
async function storage(page: Page): Promise<{ local: string[]; session: string[] }> {
  return page.evaluate(() => ({
    local: Object.keys(window.localStorage),
    session: Object.keys(window.sessionStorage),
  }));
}

async function openShop(page: Page): Promise<void> {
  await page.goto(`${SHOP}/`);
  await page.waitForSelector('body[data-state="logged-out"]');
}

/** Clicks Login and waits for Keycloak's real login form. */
async function toLoginForm(page: Page): Promise<void> {
  await page.click('#login');
  await page.waitForURL((url) => url.host === AUTH_HOST);
  await page.waitForSelector('#username');
}

async function login(page: Page, username: string, screenshot?: string): Promise<void> {
  await openShop(page);
  await toLoginForm(page);
  if (screenshot !== undefined) await shot(page, screenshot);
  await page.fill('#username', username);
  await page.fill('#password', passwordOf(username));
  await page.click('#kc-login');
  await page.waitForSelector('body[data-state="logged-in"]');
}

/** The realm user's password (the realm's placeholder, resolved as Keycloak was given it). */
function passwordOf(username: string): string {
  const kc = need(shop, 'keycloak');
  const user = kc.realm.users?.find((u) => u.username === username);
  return kc.passwordOf(need(user, `realm user ${username}`));
}

/** Calls the admin REST API of the shop's realm (`path` after /admin/realms/<realm>). */
async function admin(path: string, method = 'GET'): Promise<unknown> {
  const kc = need(shop, 'keycloak');
  return adminApi(kc.keycloak, `${kc.endpoint.realm}${path}`, { method });
}

async function userSessions(username: string): Promise<number> {
  const users = (await admin(`/users?exact=true&username=${username}`)) as {
    id: string;
  }[];
  const id = need(users[0]?.id, `user ${username}`);
  return ((await admin(`/users/${id}/sessions`)) as unknown[]).length;
}

describe('shop-web in Chromium with the real Keycloak', () => {
  test('GIVEN the USER alice WHEN she logs in through the Keycloak login page THEN she sees her name, creates and lists an order, and no admin panel', async () => {
    const { context, page, tokens } = await newPage();
    try {
      await openShop(page);
      await shot(page, '01-logged-out');
      await login(page, 'alice', '02-keycloak-login');

      expect(new URL(page.url()).toString()).toBe(`${SHOP}/`);
      expect(await page.textContent('#user-name')).toBe('Alice Customer');
      const roles = (await page.textContent('#user-roles')) ?? '';
      expect(roles.split(', ')).toContain('USER');
      expect(roles.split(', ')).not.toContain('ADMIN');
      expect(await page.isHidden('#admin-panel')).toBe(true);

      await page.selectOption('#order-sku', 'MW-MUG');
      await page.fill('#order-quantity', '2');
      await page.click('#order-create');
      await page.waitForSelector('#order-rows tr');
      await page.waitForSelector('#message[data-kind="info"]');
      expect(await page.textContent('#message')).toMatch(/^Order [0-9a-f]{8} created\.$/);
      const rows = await page.$$eval('#order-rows tr', (trs) =>
        trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)),
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]?.slice(1, 4)).toEqual(['2 × MW-MUG', '24.00 EUR', 'paid']);
      await shot(page, '03-orders');

      // Tokens in memory only: nothing in localStorage, no login state left, no cookie of the shop.
      expect(await storage(page)).toEqual({ local: [], session: [] });
      expect(await context.cookies(SHOP)).toEqual([]);
      apiTokens.set('alice', need(tokens.at(-1), "alice's API token"));
    } finally {
      await context.close();
    }
  });

  test('GIVEN the ADMIN admin-bob WHEN he logs in THEN the admin panel shows the shop statistics', async () => {
    const { context, page, tokens } = await newPage();
    try {
      await login(page, 'admin-bob');
      expect(await page.textContent('#user-name')).toBe('Bob Admin');
      expect(((await page.textContent('#user-roles')) ?? '').split(', ')).toEqual(
        expect.arrayContaining(['ADMIN', 'USER']),
      );
      expect(await page.isVisible('#admin-panel')).toBe(true);
      await page.waitForSelector('#admin-stats dd');
      const stats = await page.$$eval('#admin-stats dt, #admin-stats dd', (els) =>
        els.map((e) => e.textContent),
      );
      expect(stats.slice(0, 2)).toEqual(['Orders', expect.stringMatching(/^[1-9]\d*$/)]);
      // The revenue in the currency order-service answers with (not one the page assumes).
      expect(stats.slice(4, 6)).toEqual(['Revenue', expect.stringMatching(/^\d+\.\d{2} EUR$/)]);
      await shot(page, '04-admin-panel');
      apiTokens.set('admin-bob', need(tokens.at(-1), "admin-bob's API token"));
    } finally {
      await context.close();
    }
  });

  test("GIVEN the users' real access tokens WHEN they call the admin API directly THEN the mesh (meshward decide on dist/) refuses the USER with 403 at the gateway and at order-service, and admits the ADMIN", () => {
    const manifests = loadManifests(distFiles());
    const orders = need(
      workloadsOf(manifests).find((w) => w.namespace === 'shop' && w.name === 'order-service'),
      'the order-service workload of dist/',
    );
    /** The request's decision at the gateway, then at order-service's sidecar. */
    const decide = (token: string): Decision[] => {
      const claims: JWTPayload = decodeJwt(token);
      const call = {
        from: 'internet',
        to: orders,
        method: 'GET',
        path: '/api/admin/stats',
        token: { claims, valid: true },
      };
      return need(decideHops(manifests, [call], CLIENT_IP)[0], 'the decisions');
    };
    const alice = need(apiTokens.get('alice'), "alice's token");
    const bob = need(apiTokens.get('admin-bob'), "admin-bob's token");
    expect(decodeJwt(alice).iss).toBe(shopWebConfig.authority);
    const [aliceHops, bobHops] = [decide(alice), decide(bob)];
    for (const [i, hop] of (['gateway', 'sidecar'] as const).entries()) {
      expect({ hop, ...aliceHops[i] }).toMatchObject({ hop, outcome: 'deny', status: 403 });
      expect({ hop, ...bobHops[i] }).toMatchObject({ hop, outcome: 'allow', status: 200 });
    }
  });

  test('GIVEN a short-lived access token WHEN it nears expiry THEN the app renews it with the refresh token and keeps working', async () => {
    const { context, page, tokens } = await newPage();
    try {
      await login(page, 'alice');
      await until(() => tokens.length > 0, 'the first API call with a token');
      const first = need(tokens.at(-1), 'first token');
      const refreshed = await page.waitForResponse(
        (res) =>
          res.url() === `https://${AUTH_HOST}/realms/shop/protocol/openid-connect/token` &&
          (res.request().postData() ?? '').includes('grant_type=refresh_token'),
        { timeout: TEST_ACCESS_TOKEN_LIFESPAN * 1000 },
      );
      expect(refreshed.status()).toBe(200);
      await page.click('#order-create');
      await page.waitForSelector('#message[data-kind="info"]');
      const second = need(tokens.at(-1), 'renewed token');
      expect(second).not.toBe(first);
      expect(decodeJwt(second).exp).toBeGreaterThan(decodeJwt(first).exp ?? 0);
      expect(await page.getAttribute('body', 'data-state')).toBe('logged-in');
      await shot(page, '05-after-silent-refresh');
    } finally {
      await context.close();
    }
  });

  test('GIVEN a logged-in user WHEN Keycloak refuses the refresh (session revoked) THEN the page returns to the login with a message and keeps no token', async () => {
    const { context, page } = await newPage();
    try {
      await login(page, 'alice');
      const users = (await admin('/users?exact=true&username=alice')) as {
        id: string;
      }[];
      await admin(`/users/${need(users[0]?.id, 'alice')}/logout`, 'POST');
      const refused = await page.waitForResponse(
        (res) =>
          res.url() === `https://${AUTH_HOST}/realms/shop/protocol/openid-connect/token` &&
          (res.request().postData() ?? '').includes('grant_type=refresh_token'),
        { timeout: TEST_ACCESS_TOKEN_LIFESPAN * 1000 },
      );
      expect(refused.status()).toBe(400);
      await page.waitForSelector('body[data-state="logged-out"]');
      expect(await page.textContent('#message')).toBe(
        'Your session has ended. Please log in again.',
      );
      expect(await page.isVisible('#login')).toBe(true);
      expect(await page.$$('#order-rows tr')).toHaveLength(0);
      expect(await storage(page)).toEqual({ local: [], session: [] });
      await shot(page, '06-refresh-refused');
    } finally {
      await context.close();
    }
  });

  test('GIVEN a logged-in user WHEN she logs out THEN Keycloak ends the session and the next login asks for the password again', async () => {
    const { context, page } = await newPage();
    try {
      const before = await userSessions('alice');
      await login(page, 'alice');
      expect(await userSessions('alice')).toBe(before + 1);
      const endSession = page.waitForRequest((req) =>
        req.url().startsWith(`https://${AUTH_HOST}/realms/shop/protocol/openid-connect/logout?`),
      );
      const back = page.waitForResponse((res) => res.url() === `${SHOP}/`);
      await page.click('#logout');
      const params = new URL((await endSession).url()).searchParams;
      expect(params.get('post_logout_redirect_uri')).toBe(shopWebConfig.postLogoutRedirectUri);
      expect(decodeJwt(params.get('id_token_hint') ?? '').aud).toBe(shopWebConfig.clientId);
      expect((await back).status()).toBe(200);
      await page.waitForSelector('body[data-state="logged-out"]');
      await shot(page, '07-logged-out');
      expect(await userSessions('alice')).toBe(before);
      await toLoginForm(page);
      expect(await page.isVisible('#password')).toBe(true);
    } finally {
      await context.close();
    }
  });

  describe('bad input', () => {
    test('a cancelled login (error=access_denied on the callback) shows a message and leaves no state', async () => {
      const { context, page } = await newPage();
      try {
        await openShop(page);
        await toLoginForm(page);
        const state = new URL(page.url()).searchParams.get('state');
        expect(state).toMatch(/^[0-9a-f]{32}$/);
        // What Keycloak sends back when the user declines: the real state, error=access_denied.
        await page.goto(`${SHOP}/callback?error=access_denied&state=${state ?? ''}`);
        await page.waitForSelector('#message:not([hidden])');
        expect(await page.textContent('#message')).toBe(
          'Login was cancelled. You are not logged in.',
        );
        expect(page.url()).toBe(`${SHOP}/`);
        expect(await page.getAttribute('body', 'data-state')).toBe('logged-out');
        expect(await storage(page)).toEqual({ local: [], session: [] });
        await shot(page, '08-login-cancelled');
      } finally {
        await context.close();
      }
    });

    test('a callback whose state matches no login started here is refused without a token exchange or a redirect loop', async () => {
      const { context, page } = await newPage();
      const tokenCalls: string[] = [];
      page.on('request', (req) => {
        if (req.url().endsWith('/protocol/openid-connect/token')) tokenCalls.push(req.url());
      });
      try {
        await openShop(page);
        await toLoginForm(page);
        await page.goto(`${SHOP}/callback?code=forged-code&state=${'0'.repeat(32)}`);
        await page.waitForSelector('#message:not([hidden])');
        expect(await page.textContent('#message')).toMatch(/\(state mismatch\); it was ignored/);
        expect(tokenCalls).toEqual([]);
        expect(page.url()).toBe(`${SHOP}/`);
        expect(await storage(page)).toEqual({ local: [], session: [] });
        await shot(page, '09-state-mismatch');
      } finally {
        await context.close();
      }
    });

    test('a PKCE code verifier that does not match the challenge is refused by Keycloak and shown', async () => {
      const { context, page } = await newPage();
      // On the callback, before the app runs, swap the stored code_verifier for another valid one.
      await context.addInitScript(() => {
        if (window.location.pathname !== '/callback') return;
        for (const key of Object.keys(window.sessionStorage)) {
          if (!key.startsWith('oidc.')) continue;
          const value = JSON.parse(window.sessionStorage.getItem(key) ?? '{}') as {
            code_verifier?: string;
          };
          value.code_verifier = 'x'.repeat(64);
          window.sessionStorage.setItem(key, JSON.stringify(value));
        }
      });
      try {
        await openShop(page);
        await toLoginForm(page);
        await page.fill('#username', 'alice');
        await page.fill('#password', passwordOf('alice'));
        const exchange = page.waitForResponse((res) =>
          res.url().endsWith('/protocol/openid-connect/token'),
        );
        await page.click('#kc-login');
        expect((await exchange).status()).toBe(400);
        await page.waitForSelector('#message:not([hidden])');
        expect(await page.textContent('#message')).toMatch(/PKCE mismatch/);
        expect(await page.getAttribute('body', 'data-state')).toBe('logged-out');
        expect(await storage(page)).toEqual({ local: [], session: [] });
        await shot(page, '10-pkce-mismatch');
      } finally {
        await context.close();
      }
    });

    test('Keycloak unreachable: the Login button shows a message instead of leaving the page', async () => {
      const { context, page } = await newPage();
      const gate = need(edge, 'edge');
      try {
        await openShop(page);
        gate.keycloakDown = true;
        await page.click('#login');
        await page.waitForSelector('#message:not([hidden])');
        expect(await page.textContent('#message')).toBe(
          'The login server cannot be reached right now. Please try again later.',
        );
        expect(new URL(page.url()).host).toBe(SHOP_HOST);
        expect(await page.isEnabled('#login')).toBe(true);
        expect(await storage(page)).toEqual({ local: [], session: [] });
        await shot(page, '11-keycloak-down');
      } finally {
        gate.keycloakDown = false;
        await context.close();
      }
    });

    test('an API error is shown in the page and the session stays', async () => {
      const { context, page } = await newPage();
      const gate = need(edge, 'edge');
      try {
        await login(page, 'alice');
        gate.apiDown = true;
        await page.click('#order-create');
        await page.waitForSelector('#message[data-kind="error"]');
        expect(await page.textContent('#message')).toBe(
          'The shop is unavailable right now (HTTP 503). Please try again later.',
        );
        expect(await page.getAttribute('body', 'data-state')).toBe('logged-in');
        await shot(page, '12-api-error');
      } finally {
        gate.apiDown = false;
        await context.close();
      }
    });
  });
});
