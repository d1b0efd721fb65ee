import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrderServiceConfig } from '../../services/order-service/config.js';
import { loadReconcilerConfig } from '../../services/payment-reconciler/config.js';
import { ConfigError } from '../../services/shared/errors.js';
import { distRoutes } from './support.js';

const base = {
  MESHWARD_ROUTES: distRoutes('order-service'),
  JWT_ISSUER: 'https://auth.shop.example.com/realms/shop',
  JWT_AUDIENCE: 'shop-api',
  JWKS_URI: 'https://auth.shop.example.com/realms/shop/protocol/openid-connect/certs',
  PAYMENT_SERVICE_URL: 'http://payment-service.shop.svc.cluster.local:8080',
};

describe('service configuration', () => {
  test('defaults to verify mode, port 8080 and info logs', () => {
    // GIVEN only the required variables WHEN parsed
    const config = loadOrderServiceConfig(base);
    // THEN the secure default applies
    expect(config.auth.mode).toBe('verify');
    expect(config.port).toBe(8080);
    expect(config.logLevel).toBe('info');
    expect(config.auth.algorithms).not.toContain('HS256');
    expect(config.paymentServiceUrl.host).toBe('payment-service.shop.svc.cluster.local:8080');
  });

  test('caches up to 1000 verified tokens unless JWT_CACHE_SIZE says otherwise', () => {
    expect(loadOrderServiceConfig(base).auth.cacheSize).toBe(1000);
    expect(loadOrderServiceConfig({ ...base, JWT_CACHE_SIZE: ' 250 ' }).auth.cacheSize).toBe(250);
    expect(loadOrderServiceConfig({ ...base, JWT_CACHE_SIZE: '0' }).auth.cacheSize).toBe(0);
  });

  test('mesh mode does not need JWKS_URI', () => {
    const { JWKS_URI: _omit, ...env } = base;
    expect(loadOrderServiceConfig({ ...env, AUTH_MODE: 'mesh' }).auth.mode).toBe('mesh');
  });

  test.each([
    [{ JWKS_URI: undefined }, /JWKS_URI is required/],
    [{ JWT_ISSUER: '' }, /JWT_ISSUER is required/],
    [{ JWT_AUDIENCE: undefined }, /JWT_AUDIENCE is required/],
    [{ AUTH_MODE: 'off' }, /AUTH_MODE \('off'\) must be 'mesh' or 'verify'/],
    [{ PORT: '70000' }, /PORT \('70000'\) must be an integer 1-65535/],
    [{ PORT: '80a' }, /PORT \('80a'\)/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL \('loud'\)/],
    [
      { PAYMENT_SERVICE_URL: 'not a url' },
      /PAYMENT_SERVICE_URL \('not a url'\) is not a valid URL/,
    ],
    [{ PAYMENT_SERVICE_URL: 'ftp://x' }, /must use http or https/],
    [{ JWT_CLOCK_TOLERANCE_SECONDS: '3600' }, /JWT_CLOCK_TOLERANCE_SECONDS \('3600'\)/],
    [{ JWT_CACHE_SIZE: 'lots' }, /JWT_CACHE_SIZE \('lots'\) must be an integer 0-10000/],
    [{ JWT_CACHE_SIZE: '-1' }, /JWT_CACHE_SIZE \('-1'\)/],
    [{ JWT_CACHE_SIZE: '1.5' }, /JWT_CACHE_SIZE \('1.5'\)/],
    [{ JWT_CACHE_SIZE: '10001' }, /JWT_CACHE_SIZE \('10001'\)/],
  ])('throws when the environment has %j', (override, message) => {
    expect(() => loadOrderServiceConfig({ ...base, ...override })).toThrow(ConfigError);
    expect(() => loadOrderServiceConfig({ ...base, ...override })).toThrow(message);
  });

  test('GIVEN MESHWARD_ROUTES from dist/ and no roles variables WHEN parsed THEN the routes and Keycloak roles apply', () => {
    const { auth } = loadOrderServiceConfig(base);
    expect(auth.rolesClaim).toEqual(['realm_access', 'roles']);
    expect(auth.rolesClaimFormat).toBe('list');
    expect(auth.routes.find((r) => r.paths.includes('/api/orders/admin/all'))?.when).toEqual([
      { key: 'request.auth.claims[realm_access][roles]', values: ['ADMIN'] },
      { key: 'request.auth.claims[scope]', values: ['admin:read'] },
    ]);
  });

  test.each([
    ['groups', undefined, ['groups'], 'list'],
    ['["https://shop.example.com/roles"]', undefined, ['https://shop.example.com/roles'], 'list'],
    ['roles', ' space-delimited ', ['roles'], 'space-delimited'],
  ])(
    'GIVEN JWT_ROLES_CLAIM %j and JWT_ROLES_CLAIM_FORMAT %j WHEN parsed THEN the claim path and format follow',
    (claim, format, path, parsedFormat) => {
      const { auth } = loadOrderServiceConfig({
        ...base,
        JWT_ROLES_CLAIM: claim,
        JWT_ROLES_CLAIM_FORMAT: format,
      });
      expect(auth.rolesClaim).toEqual(path);
      expect(auth.rolesClaimFormat).toBe(parsedFormat);
    },
  );

  test.each([
    [
      { MESHWARD_ROUTES: undefined },
      /^MESHWARD_ROUTES is not set: the service enforces its meshward.io\/routes intent/,
    ],
    [{ MESHWARD_ROUTES: ' ' }, /MESHWARD_ROUTES is not set/],
    [{ MESHWARD_ROUTES: '{"v":1,' }, /^MESHWARD_ROUTES: meshward.io\/routes is not JSON/],
    [{ MESHWARD_ROUTES: '[]' }, /MESHWARD_ROUTES: meshward.io\/routes is an array/],
    [{ MESHWARD_ROUTES: '{"v":2,"routes":[]}' }, /MESHWARD_ROUTES: .*version 2 is not supported/],
    [
      { MESHWARD_ROUTES: '{"v":1,"routes":[{"methods":null,"paths":["/x"],"public":"yes"}]}' },
      /MESHWARD_ROUTES: meshward.io\/routes.routes\[0\].public must be true or false/,
    ],
    [
      { JWT_ROLES_CLAIM: 'realm_access..roles' },
      /^JWT_ROLES_CLAIM 'realm_access..roles': claim name/,
    ],
    [{ JWT_ROLES_CLAIM: '["roles"' }, /^JWT_ROLES_CLAIM '\["roles"' is neither/],
    [
      { JWT_ROLES_CLAIM_FORMAT: 'csv' },
      /^JWT_ROLES_CLAIM_FORMAT \('csv'\) must be 'list' or 'space-delimited'$/,
    ],
  ])('throws when the route intent or roles claim is wrong: %j', (override, message) => {
    for (const mode of ['verify', 'mesh']) {
      const env = { ...base, AUTH_MODE: mode, ...override };
      expect(() => loadOrderServiceConfig(env)).toThrow(ConfigError);
      expect(() => loadOrderServiceConfig(env)).toThrow(message);
    }
  });

  test('throws when the reconciler has no CLIENT_SECRET', () => {
    expect(() =>
      loadReconcilerConfig({
        TOKEN_URL: 'http://kc/token',
        CLIENT_ID: 'payment-reconciler',
        PAYMENT_SERVICE_URL: base.PAYMENT_SERVICE_URL,
      }),
    ).toThrow('environment variable CLIENT_SECRET is required but not set');
  });

  describe('a secret from a mounted file (red-team L8)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshward-secret-'));
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const reconciler = (env: Record<string, string>) =>
      loadReconcilerConfig({
        TOKEN_URL: 'http://kc/token',
        CLIENT_ID: 'payment-reconciler',
        PAYMENT_SERVICE_URL: base.PAYMENT_SERVICE_URL,
        ...env,
      });

    test('GIVEN CLIENT_SECRET_FILE naming a Secret key mounted as a file WHEN the reconciler starts THEN it reads the secret from the file, without its line break', () => {
      const file = join(dir, 'client-secret');
      writeFileSync(file, 's3cr3t\n');
      expect(reconciler({ CLIENT_SECRET_FILE: file }).clientSecret).toBe('s3cr3t');
    });

    test.each([
      [
        'a missing file',
        () => ({ CLIENT_SECRET_FILE: join(dir, 'absent') }),
        /CLIENT_SECRET_FILE '.*absent' cannot be read \(ENOENT\)/,
      ],
      [
        'an empty file',
        () => {
          writeFileSync(join(dir, 'empty'), '\n');
          return { CLIENT_SECRET_FILE: join(dir, 'empty') };
        },
        /CLIENT_SECRET_FILE '.*empty' is empty/,
      ],
      [
        'both the file and the variable',
        () => ({ CLIENT_SECRET_FILE: join(dir, 'x'), CLIENT_SECRET: 'y' }),
        /set CLIENT_SECRET_FILE or CLIENT_SECRET, not both/,
      ],
    ])('refuses %s naming the variable, never a value', (_name, env, message) => {
      expect(() => reconciler(env())).toThrow(ConfigError);
      expect(() => reconciler(env())).toThrow(message);
    });
  });
});
