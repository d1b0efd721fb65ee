import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shopGateway, SHOP_HOST } from '../../policies/gateway.js';
import { SHOP_ISSUER, SHOP_WEB_ORIGIN, shopRealm } from '../../policies/realm.js';
import { shopWebConfig } from '../../policies/shop-web.js';
import { writeWebConfig } from '../../scripts/build-web.js';
import { connectOrigins, parseWebClientConfig } from '../../services/shop-web/src/client-config.js';

const client = shopRealm.clients.find((c) => c.clientId === shopWebConfig.clientId);

describe('shop-web config generated from the intent', () => {
  test('names a public authorization-code client of the realm', () => {
    expect(client).toBeDefined();
    expect(client?.public).toBe(true);
    expect(client?.flows).toEqual(['authorization-code']);
  });

  test('uses exactly the redirect and post-logout URIs the realm allows', () => {
    expect(client?.redirectUris).toEqual([shopWebConfig.redirectUri]);
    expect(client?.postLogoutRedirectUris).toEqual([shopWebConfig.postLogoutRedirectUri]);
    expect(shopWebConfig.redirectUri).toBe(`${SHOP_WEB_ORIGIN}/callback`);
  });

  test('logs in at the realm issuer and calls the API on the origin the gateway allows', () => {
    expect(shopWebConfig.authority).toBe(SHOP_ISSUER);
    expect(new URL(shopWebConfig.apiBase).host).toBe(SHOP_HOST);
    expect(shopGateway.cors?.allowOrigins).toEqual([SHOP_WEB_ORIGIN]);
    expect(client?.webOrigins).toEqual([SHOP_WEB_ORIGIN]);
    expect(shopWebConfig.apiBase).toBe(SHOP_WEB_ORIGIN);
  });

  test('the realm puts the name and the roles into the ID token (the page shows them)', () => {
    const profile = shopRealm.clientScopes.find((s) => s.name === 'profile');
    expect(client?.defaultScopes).toContain('profile');
    expect(profile?.mappers).toEqual(
      expect.arrayContaining([
        { type: 'username' },
        { type: 'full-name' },
        { type: 'realm-roles', token: 'id' },
      ]),
    );
  });

  test('writeWebConfig writes the validated config as config.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shop-web-config-'));
    try {
      const file = writeWebConfig(dir);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(shopWebConfig);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('connectOrigins lists the API and the login server', () => {
    expect(connectOrigins(shopWebConfig)).toEqual([
      'https://shop.example.com',
      'https://auth.shop.example.com',
    ]);
  });
});

describe('parseWebClientConfig', () => {
  test('accepts the generated config unchanged', () => {
    expect(parseWebClientConfig(JSON.parse(JSON.stringify(shopWebConfig)))).toEqual(shopWebConfig);
  });

  test.each([
    ['a non-object', [], /must be a JSON object/],
    ['an unknown field', { ...shopWebConfig, extra: 1 }, /unknown field 'extra'/],
    [
      'a missing field',
      { ...shopWebConfig, clientId: undefined },
      /'clientId' must be a non-empty/,
    ],
    ['a relative authority', { ...shopWebConfig, authority: '/realms/shop' }, /'authority'/],
    [
      'a javascript: redirect',
      { ...shopWebConfig, redirectUri: 'javascript:alert(1)' },
      /https or http/,
    ],
    [
      'a redirect with a fragment',
      { ...shopWebConfig, redirectUri: 'https://a.example/cb#x' },
      /query or fragment/,
    ],
    [
      'an apiBase with a path',
      { ...shopWebConfig, apiBase: 'https://shop.example.com/api' },
      /must be an origin/,
    ],
    ['a scope without openid', { ...shopWebConfig, scope: 'profile' }, /must contain 'openid'/],
  ])('throws when the config has %s', (_what, value, message) => {
    expect(() => parseWebClientConfig(value)).toThrow(message);
  });
});
