/**
 * The shop's realm as synthesized into dist/: pinned by a snapshot, held to invariants,
 * and checked against the rest of the system (the issuer and JWKS every
 * RequestAuthentication uses, the roles/scopes/clients the routes name, the Secrets).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp } from '../../charts/app.js';
import { Keycloak } from '../../charts/lib/index.js';
import { lint, loadManifests, readRealmFile } from '../../policies/engine/index.js';
import {
  SHOP_AUDIENCE,
  SHOP_ISSUER,
  SHOP_JWKS_URI,
  SHOP_TOKEN_URL,
  shopRealm,
} from '../../policies/realm.js';
import { shop } from '../../policies/shop.js';
import { loadDist, ref, type KubeObject } from '../support/manifests.js';
import { unfixedShopDir } from '../support/unfixed-shop.js';

const DIST = join(process.cwd(), 'dist');
const objects = loadDist();
const keycloak = buildApp()
  .node.findAll()
  .find((c): c is Keycloak => c instanceof Keycloak);
const realmMap = objects.find(
  (o) => o.kind === 'ConfigMap' && o.metadata.name === 'keycloak-realm',
) as (KubeObject & { data: Record<string, string> }) | undefined;
const realm = JSON.parse(realmMap?.data['shop-realm.json'] ?? '{}');

describe('the shop realm in dist/', () => {
  test('the app has one Keycloak and dist/ carries its realm', () => {
    expect(keycloak).toBeInstanceOf(Keycloak);
    expect(realmMap?.metadata.namespace).toBe('auth');
    expect(realmMap?.data['shop-realm.json']).toBe(keycloak?.realmJson);
  });

  test('realm snapshot', () => {
    expect(realm).toMatchSnapshot();
  });

  test('seed token settings: 5 min access tokens, rotated refresh tokens, 30 min SSO idle', () => {
    expect(realm).toMatchObject({
      realm: 'shop',
      accessTokenLifespan: 300,
      revokeRefreshToken: true,
      refreshTokenMaxReuse: 0,
      ssoSessionIdleTimeout: 1800,
      bruteForceProtected: true,
      sslRequired: 'external',
    });
  });

  test('realm roles are USER and ADMIN', () => {
    expect(realm.roles.realm.map((r: { name: string }) => r.name)).toEqual(['USER', 'ADMIN']);
  });

  test("every enabled client's default scopes include basic (sub) and the audience scope", () => {
    const audienceScopes = realm.clientScopes
      .filter((s: any) =>
        s.protocolMappers.some(
          (m: any) =>
            m.protocolMapper === 'oidc-audience-mapper' &&
            m.config['included.custom.audience'] === SHOP_AUDIENCE,
        ),
      )
      .map((s: any) => s.name);
    expect(audienceScopes).toHaveLength(1);
    const basic = realm.clientScopes.find((s: any) => s.name === 'basic');
    expect(basic.protocolMappers.map((m: any) => m.protocolMapper)).toContain('oidc-sub-mapper');
    const enabled = realm.clients.filter((c: any) => c.enabled !== false);
    expect(enabled.length).toBeGreaterThanOrEqual(2);
    for (const client of enabled) {
      expect({ client: client.clientId, scopes: client.defaultClientScopes }).toEqual({
        client: client.clientId,
        scopes: expect.arrayContaining(['basic', audienceScopes[0]]),
      });
    }
  });

  test('every scope a client names is defined in the realm (built-in scopes are not imported)', () => {
    const defined = new Set(realm.clientScopes.map((s: any) => s.name));
    const used = realm.clients.flatMap((c: any) => [
      ...c.defaultClientScopes,
      ...c.optionalClientScopes,
    ]);
    expect(used.filter((s: string) => !defined.has(s))).toEqual([]);
  });

  test('no client allows the password grant or the implicit flow; code flows need PKCE S256', () => {
    for (const client of realm.clients) {
      expect(client.directAccessGrantsEnabled).toBe(false);
      expect(client.implicitFlowEnabled).toBe(false);
      if (client.standardFlowEnabled) {
        expect(client.attributes['pkce.code.challenge.method']).toBe('S256');
      }
      if (client.publicClient) expect(client.serviceAccountsEnabled).toBe(false);
    }
  });

  test('shop-web redirects only to exact https URIs of the shop', () => {
    const web = realm.clients.find((c: any) => c.clientId === 'shop-web');
    expect(web.publicClient).toBe(true);
    expect(web.redirectUris).toEqual(['https://shop.example.com/callback']);
    expect(web.webOrigins).toEqual(['https://shop.example.com']);
  });
});

describe('one source of truth for the issuer', () => {
  const requestAuths = objects.filter((o) => o.kind === 'RequestAuthentication');

  test('the intent takes the issuer, JWKS and token URLs from the realm', () => {
    expect(keycloak?.issuer).toBe(SHOP_ISSUER);
    expect(keycloak?.jwksUri).toBe(SHOP_JWKS_URI);
    expect(keycloak?.tokenUrl).toBe(SHOP_TOKEN_URL);
    expect(shop.issuer).toEqual({
      issuer: SHOP_ISSUER,
      jwksUri: SHOP_JWKS_URI,
      audiences: [SHOP_AUDIENCE],
    });
  });

  test('every RequestAuthentication in dist/ trusts exactly the Keycloak issuer and its JWKS', () => {
    expect(requestAuths.length).toBeGreaterThan(0);
    for (const ra of requestAuths) {
      for (const rule of (ra.spec as any).jwtRules) {
        expect({ ra: ref(ra), issuer: rule.issuer, jwksUri: rule.jwksUri }).toEqual({
          ra: ref(ra),
          issuer: keycloak?.issuer,
          jwksUri: keycloak?.jwksUri,
        });
        expect(keycloak?.audiences).toEqual(expect.arrayContaining(rule.audiences));
      }
    }
  });

  test('the realm ↔ policy contract holds on dist/: no MW2xx finding, error or warning', () => {
    const findings = lint(loadManifests([DIST])).filter((f) => f.code.startsWith('MW2'));

    expect(findings).toEqual([]);
  });

  test('GIVEN the realm and route before the fix (admin:read without role scope mappings, guarding the route alone) WHEN linted THEN the escalation is an MW207 error on the service and the gateway', () => {
    const findings = lint(loadManifests([unfixedShopDir()]));

    expect(
      findings
        .filter((f) => f.code === 'MW207')
        .map((f) => `${f.severity} ${f.object}: ${f.message}`),
    ).toEqual([
      "error AuthorizationPolicy istio-system/meshward-gateway-access: scope 'admin:read' guards GET /api/orders/admin/all but any user of public client 'shop-web' can obtain it: grant it to roles, or require a role on the route",
      "error AuthorizationPolicy shop/order-service: scope 'admin:read' guards GET /api/orders/admin/all but any user of public client 'shop-web' can obtain it: grant it to roles, or require a role on the route",
    ]);
  });

  test('GIVEN the same realm as a Keycloak export WHEN linted with --realm THEN the same error', () => {
    const dir = unfixedShopDir();
    const manifests = loadManifests([dir]);
    const cm = manifests.objects.find((o) => o.kind === 'ConfigMap');
    const file = join(dir, 'shop-realm.json');
    writeFileSync(file, String(cm?.data?.['shop-realm.json']));
    const withoutRealm = { objects: manifests.objects.filter((o) => o.kind !== 'ConfigMap') };

    const codes = lint(withoutRealm, { realmFiles: [readRealmFile(file)] })
      .filter((f) => f.severity === 'error')
      .map((f) => f.code);

    expect(codes).toEqual(['MW207', 'MW207']);
  });

  test('the payment-reconciler job and Keycloak read the same Secret key for its client secret', () => {
    const job = shop.jobs?.find((j) => j.name === 'payment-reconciler');
    const client = shopRealm.clients.find((c) => c.clientId === 'payment-reconciler');
    expect(job?.env?.CLIENT_ID).toBe('payment-reconciler');
    expect(job?.env?.TOKEN_URL).toBe(keycloak?.tokenUrl);
    // As a mounted file (red-team L8), from the Secret key Keycloak's realm import reads.
    expect(job?.env?.CLIENT_SECRET_FILE).toEqual({ ...client?.secret, file: true });
    expect(job?.env?.CLIENT_SECRET).toBeUndefined();
  });
});

/** Env names that hold secrets; they must come from a Secret, never a literal. */
const SECRET_ENV = /(SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|API_KEY|TOKEN)$/i;
/** Realm JSON keys whose values are secret. */
const SECRET_KEYS = new Set(['secret', 'password', 'value', 'privateKey', 'clientSecret']);
const PLACEHOLDER = /^\$\{[A-Z][A-Z0-9_]*\}$/;
/** A digest of public data, not a secret. */
const PUBLIC_DIGEST_KEYS = new Set(['meshward.io/realm-sha256']);

type Visitor = (node: unknown, where: string, key: string) => void;
function walk(node: unknown, where: string, visit: Visitor, key = ''): void {
  visit(node, where, key);
  if (Array.isArray(node))
    node.forEach((n, i) => {
      walk(n, `${where}[${i}]`, visit, key);
    });
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) walk(v, `${where}.${k}`, visit, k);
  }
}

/** Env entries with a secret-like name whose value is not a secretKeyRef; and how many were seen. */
function literalSecretEnv(node: unknown, where: string): { offenders: string[]; checked: number } {
  const offenders: string[] = [];
  let checked = 0;
  walk(node, where, (n, at) => {
    if (!n || typeof n !== 'object' || Array.isArray(n)) return;
    const entry = n as { name?: unknown; valueFrom?: { secretKeyRef?: unknown } };
    if (typeof entry.name !== 'string' || !SECRET_ENV.test(entry.name)) return;
    if (!('value' in entry) && !('valueFrom' in entry)) return;
    checked += 1;
    if (!entry.valueFrom?.secretKeyRef) offenders.push(`${at} ${entry.name}`);
  });
  return { offenders, checked };
}

/** Secret-ish keys of a realm whose value is not an ${ENV} placeholder. */
function literalRealmSecrets(node: unknown): { offenders: string[]; checked: number } {
  const offenders: string[] = [];
  let checked = 0;
  walk(node, 'realm', (n, at, key) => {
    if (typeof n !== 'string' || !SECRET_KEYS.has(key)) return;
    checked += 1;
    if (!PLACEHOLDER.test(n)) offenders.push(`${at}=${n}`);
  });
  return { offenders, checked };
}

/** Strings that look like a private key, a JWT or a generated credential. */
function secretLookingStrings(node: unknown, where: string): string[] {
  const found: string[] = [];
  const looksSecret = (s: string): boolean =>
    /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(s) ||
    /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./.test(s) ||
    // 32+ characters of base64url/hex mixing letters and digits: a generated secret.
    /(?<![A-Za-z0-9+=_-])(?=[A-Za-z0-9+=_-]*\d)(?=[A-Za-z0-9+=_-]*[A-Za-z])[A-Za-z0-9+=_-]{32,}(?![A-Za-z0-9+=_-])/.test(
      s,
    );
  walk(node, where, (n, at, key) => {
    if (typeof n === 'string' && !PUBLIC_DIGEST_KEYS.has(key) && looksSecret(n)) {
      found.push(`${at}: ${n.slice(0, 60)}`);
    }
  });
  return found;
}

describe('no secret value anywhere in dist/', () => {
  test('dist/ holds no Secret objects (the deploy tooling creates them)', () => {
    expect(objects.filter((o) => o.kind === 'Secret').map(ref)).toEqual([]);
  });

  test('every secret-named environment variable comes from a secretKeyRef', () => {
    const { offenders, checked } = literalSecretEnv(objects, 'dist');
    // the realm's placeholders; the reconciler's secret and the bootstrap admin are files
    expect(checked).toBeGreaterThanOrEqual(3);
    expect(offenders).toEqual([]);
  });

  test('every secret-ish key in the realm JSON is an ${ENV} placeholder', () => {
    const { offenders, checked } = literalRealmSecrets(realm);
    expect(checked).toBeGreaterThanOrEqual(3);
    expect(offenders).toEqual([]);
  });

  test('no string in dist/ or the realm looks like a key, a token or a generated credential', () => {
    expect([
      ...secretLookingStrings(objects, 'dist'),
      ...secretLookingStrings(realm, 'realm'),
    ]).toEqual([]);
  });

  test('the scans catch literal secrets', () => {
    // GIVEN a literal env secret, a literal client secret and a pasted token
    const env = [
      { name: 'CLIENT_SECRET', value: 'hunter2' },
      { name: 'TOKEN_URL', value: 'http://x' },
    ];
    const leakedRealm = { clients: [{ clientId: 'x', secret: 'hunter2' }] };
    const pasted = { data: { note: 'kF9s2LxQ7pVb3RmT8wNz4YcH6jDa1GeU' } };
    // THEN each scan names it
    expect(literalSecretEnv(env, 'env').offenders).toEqual(['env[0] CLIENT_SECRET']);
    expect(literalRealmSecrets(leakedRealm).offenders).toEqual(['realm.clients[0].secret=hunter2']);
    expect(secretLookingStrings(pasted, 'cm')).toEqual([
      'cm.data.note: kF9s2LxQ7pVb3RmT8wNz4YcH6jDa1GeU',
    ]);
  });
});
