import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatMatrix,
  formatMermaid,
  loadManifests,
  matrix,
  mismatches,
  parseManifests,
  parseRoutes,
  samplePath,
} from '../../policies/engine/index.js';

const SHOP = join(process.cwd(), 'test/engine/fixtures/shop.yaml');

describe('matrix', () => {
  const m = matrix(loadManifests([SHOP]));
  const cell = (path: string, caller: string, tokenKind: string, method = 'GET') =>
    m.cells.find(
      (c) => c.path === path && c.caller === caller && c.token === tokenKind && c.method === method,
    );

  it('lists the gateway, every service identity and a plaintext client as callers', () => {
    expect(m.callers.map((c) => c.name)).toEqual([
      'internet (gateway)',
      'shop/orders',
      'shop/payments',
      'shop/reconciler',
      'plaintext',
    ]);
  });

  it('covers every caller × route × token kind', () => {
    // orders: 1 + 2 + 1 requests, payments: 1 + 1 requests; 5 callers; 6 token kinds
    expect(m.cells).toHaveLength((4 + 2) * 5 * 6);
  });

  it('decides each cell with the engine and the intent', () => {
    expect(cell('/api/orders', 'internet (gateway)', 'user')).toMatchObject({
      outcome: 'allow',
      intended: 'allow',
    });
    expect(cell('/api/orders', 'internet (gateway)', 'none')).toMatchObject({
      outcome: 'deny',
      intended: 'deny',
    });
    expect(cell('/api/orders', 'internet (gateway)', 'invalid')).toMatchObject({
      outcome: 'unauthenticated',
      status: 401,
    });
    expect(cell('/api/orders', 'plaintext', 'user')).toMatchObject({ outcome: 'reset', status: 0 });
    expect(cell('/api/orders/admin/all', 'internet (gateway)', 'user+admin:read')).toMatchObject({
      outcome: 'allow',
    });
    expect(cell('/api/orders/admin/all', 'internet (gateway)', 'admin')).toMatchObject({
      outcome: 'deny',
    });
    expect(cell('/api/public/o-1', 'internet (gateway)', 'none')).toMatchObject({
      outcome: 'allow',
      intended: 'allow',
    });
    expect(cell('/api/internal/reconcile', 'shop/reconciler', 'client', 'POST')).toMatchObject({
      outcome: 'allow',
    });
    expect(cell('/api/internal/reconcile', 'shop/orders', 'client', 'POST')).toMatchObject({
      outcome: 'deny',
    });
  });

  it('finds no mismatch on the consistent fixture', () => {
    expect(mismatches(m)).toEqual([]);
  });

  it('names route, caller and token of a mismatch', () => {
    // GIVEN the public rule widened by mistake to every path under /api
    const text = readFileSync(SHOP, 'utf8').replace(
      "paths: ['/api/public/{*}']",
      "paths: ['/api/{**}']",
    );
    const found = mismatches(matrix({ objects: parseManifests(text, 'shop.yaml') }));
    expect(found).toContainEqual({
      service: 'shop/orders',
      route: 'GET,POST /api/orders',
      request: 'GET /api/orders',
      caller: 'internet (gateway)',
      token: 'none',
      actual: 'allow 200',
      intended: 'deny',
    });
  });

  it('renders a table and a mermaid flowchart', () => {
    const table = formatMatrix(m);
    expect(table.split('\n')[0]).toMatch(/^service\s+request\s+caller\s+none\s+user\s+admin/);
    expect(table).toContain('0 mismatch(es)');
    const mermaid = formatMermaid(m);
    expect(mermaid.startsWith('flowchart LR\n')).toBe(true);
    expect(mermaid).toContain('c_internet__gateway_ -->|"GET /api/public/o-1<br/>GET /api/orders');
  });
});

describe('routes annotation', () => {
  it('parses the annotation shape', () => {
    expect(
      parseRoutes('[{"methods":null,"paths":["/a"],"public":true}]', 'Deployment shop/a'),
    ).toEqual([
      {
        methods: null,
        paths: ['/a'],
        public: true,
        roles: [],
        scopes: [],
        clients: [],
        principals: [],
      },
    ]);
  });

  it('throws when the annotation is not JSON, naming the object', () => {
    expect(() => parseRoutes('[oops', 'Deployment shop/a')).toThrow(
      /^Deployment shop\/a: meshward.io\/routes is not JSON/,
    );
  });

  it('throws when paths are not strings', () => {
    expect(() => parseRoutes('[{"paths":[1]}]', 'Service shop/a')).toThrow(
      'Service shop/a: meshward.io/routes[0].paths must be an array of strings, got [1]',
    );
  });

  it.each([
    ['/api/orders/{*}', '/api/orders/o-1'],
    ['/api/{**}', '/api/x'],
    ['/api/public/*', '/api/public/x'],
    ['/api', '/api'],
  ])('samples %s as %s', (pattern, path) => {
    expect(samplePath(pattern)).toBe(path);
  });
});
