import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { shopWebConfig } from '../../policies/shop-web.js';
import { shop } from '../../policies/shop.js';
import { ConfigError } from '../../services/shared/errors.js';
import {
  contentSecurityPolicy,
  createShopWebApp,
  SHOP_WEB_FILES,
} from '../../services/shop-web/app.js';
import { loadShopWebConfig } from '../../services/shop-web/config.js';
import { silentLogger } from './support.js';

let dir: string;

function writeBundle(target: string, config: unknown = shopWebConfig): void {
  mkdirSync(join(target, 'assets'), { recursive: true });
  writeFileSync(join(target, 'index.html'), '<!doctype html><title>shop</title>');
  writeFileSync(join(target, 'assets/app.js'), 'console.log(1);');
  writeFileSync(join(target, 'assets/app.css'), 'body{}');
  writeFileSync(join(target, 'config.json'), JSON.stringify(config));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'shop-web-'));
  writeBundle(dir);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const app = () => createShopWebApp({ publicDir: dir, logger: silentLogger });

describe('shop-web static server', () => {
  test.each(Object.keys(SHOP_WEB_FILES))(
    'GIVEN the bundle WHEN GET %s THEN 200 with strict security headers',
    async (path) => {
      const res = await request(app()).get(path);
      expect(res.status).toBe(200);
      expect(res.headers['content-security-policy']).toBe(contentSecurityPolicy(shopWebConfig));
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(res.headers['content-type']).toBe(SHOP_WEB_FILES[path].type);
      expect(res.headers['x-powered-by']).toBeUndefined();
      expect(res.headers['set-cookie']).toBeUndefined();
    },
  );

  test('the CSP allows no inline code, no framing and only the API and login origins', () => {
    const csp = contentSecurityPolicy(shopWebConfig);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(
      "connect-src 'self' https://shop.example.com https://auth.shop.example.com",
    );
  });

  test('serves config.json as generated and the app shell on the callback path', async () => {
    const config = await request(app()).get('/config.json');
    expect(config.body).toEqual(shopWebConfig);
    expect(config.headers['cache-control']).toBe('no-store');
    const callback = await request(app()).get('/callback?code=abc&state=xyz');
    expect(callback.status).toBe(200);
    expect(callback.text).toContain('<title>shop</title>');
  });

  test('HEAD works on the static paths (the mesh admits GET and HEAD)', async () => {
    const res = await request(app()).head('/assets/app.js');
    expect(res.status).toBe(200);
  });

  test.each([
    ['GET', '/index.html'],
    ['GET', '/assets/'],
    ['GET', '/assets/app.js.map'],
    ['GET', '/Callback'],
    ['GET', '/callback/'],
    ['POST', '/'],
    ['DELETE', '/config.json'],
  ])('answers 404 to %s %s (only the exact files exist)', async (method, path) => {
    const res = await request(app())[method.toLowerCase() as 'get' | 'post' | 'delete'](path);
    expect(res.status).toBe(404);
    expect(res.headers['content-security-policy']).toBeDefined();
  });

  test('rejects path tricks with 400, security headers included', async () => {
    const res = await request(app()).get('/assets/..%2fconfig.json');
    expect(res.status).toBe(400);
    expect(res.headers['content-security-policy']).toBe(contentSecurityPolicy(shopWebConfig));
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  test('serves /healthz and /readyz, security headers included', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await request(app()).get(path);
      expect(res.status).toBe(200);
      expect(res.headers['content-security-policy']).toBe(contentSecurityPolicy(shopWebConfig));
    }
  });

  test('throws when a bundle file is missing, naming it and the build command', () => {
    rmSync(join(dir, 'assets/app.js'));
    expect(() => app()).toThrow(ConfigError);
    expect(() => app()).toThrow(
      /assets\/app\.js is missing; build the bundle with 'npm run build:web'/,
    );
  });

  test('throws when config.json is invalid, naming the field', () => {
    writeBundle(dir, { ...shopWebConfig, redirectUri: 'not a url' });
    expect(() => app()).toThrow(/config.json is invalid: config 'redirectUri'/);
  });

  test('serves exactly the paths the intent opens at the gateway', () => {
    const service = shop.services.find((s) => s.name === 'shop-web');
    const paths = service?.routes.flatMap((r) => r.paths) ?? [];
    expect([...paths].sort()).toEqual(Object.keys(SHOP_WEB_FILES).sort());
    expect(service?.routes.every((r) => r.public === true)).toBe(true);
  });
});

describe('loadShopWebConfig', () => {
  test('defaults to port 8080 and the public folder next to the server', () => {
    const config = loadShopWebConfig({});
    expect(config.port).toBe(8080);
    expect(config.publicDir).toMatch(/shop-web[/\\]public$/);
  });

  test('throws when PORT is out of range', () => {
    expect(() => loadShopWebConfig({ PORT: '70000' })).toThrow(/PORT \('70000'\)/);
  });
});
