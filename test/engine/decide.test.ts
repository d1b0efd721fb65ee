import { join } from 'node:path';

import {
  compile,
  decide,
  loadManifests,
  type MeshRequest,
  parseManifests,
} from '../../policies/engine/index.js';
import { ap, decideYaml, GW, ISS, RA, token } from './helpers.js';

const ALLOW_GET = ap(`  rules:
    - to: [{ operation: { methods: [GET] } }]`);

describe('PeerAuthentication', () => {
  const pa = (
    ns: string,
    name: string,
    mode: string,
    extra = '',
    ts = '',
  ) => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ${name}, namespace: ${ns}${ts ? `, creationTimestamp: '${ts}'` : ''} }
spec:
${extra}  mtls: { mode: ${mode} }
---
`;
  const plain = { source: { mtls: false } };

  it('resets plaintext on a STRICT namespace with status 0', () => {
    const d = decideYaml(pa('shop', 'default', 'STRICT'), plain);
    expect(d).toMatchObject({ outcome: 'reset', status: 0, policies: ['shop/default'] });
  });

  it('accepts plaintext when nothing is configured (PERMISSIVE at the top)', () => {
    expect(decideYaml('', plain).outcome).toBe('allow');
  });

  it('applies the mesh-wide policy from the root namespace', () => {
    expect(decideYaml(pa('istio-system', 'default', 'STRICT'), plain).outcome).toBe('reset');
  });

  it('prefers the namespace policy over the mesh policy', () => {
    const y = pa('istio-system', 'default', 'STRICT') + pa('shop', 'default', 'PERMISSIVE');
    expect(decideYaml(y, plain).outcome).toBe('allow');
  });

  it('prefers the workload policy over the namespace policy', () => {
    const y =
      pa('shop', 'default', 'STRICT') +
      pa('shop', 'api', 'PERMISSIVE', '  selector: { matchLabels: { app: api } }\n');
    expect(decideYaml(y, plain).outcome).toBe('allow');
  });

  it('inherits with UNSET', () => {
    const y =
      pa('shop', 'default', 'STRICT') +
      pa('shop', 'api', 'UNSET', '  selector: { matchLabels: { app: api } }\n');
    expect(decideYaml(y, plain).outcome).toBe('reset');
  });

  it('ignores a selector policy in the root namespace', () => {
    const y = pa('istio-system', 'sel', 'STRICT', '  selector: { matchLabels: { app: api } }\n');
    expect(decideYaml(y, plain).outcome).toBe('allow');
  });

  it('applies portLevelMtls by container port', () => {
    const y =
      pa('shop', 'default', 'STRICT') +
      pa(
        'shop',
        'api',
        'STRICT',
        "  selector: { matchLabels: { app: api } }\n  portLevelMtls: { '9000': { mode: PERMISSIVE } }\n",
      );
    expect(
      decideYaml(y, {
        ...plain,
        destination: { namespace: 'shop', labels: { app: 'api' }, port: 9000 },
      }).outcome,
    ).toBe('allow');
    expect(decideYaml(y, plain).outcome).toBe('reset');
  });

  it('lets the oldest policy win a tie, whatever the document order', () => {
    const a = pa('shop', 'a', 'PERMISSIVE', '', '2024-02-01T00:00:00Z');
    const b = pa('shop', 'b', 'STRICT', '', '2024-01-01T00:00:00Z');
    expect(decideYaml(a + b, plain).outcome).toBe('reset');
    expect(decideYaml(b + a, plain).outcome).toBe('reset');
  });

  it('breaks a tie without timestamps by name', () => {
    const a = pa('shop', 'a', 'PERMISSIVE');
    const b = pa('shop', 'b', 'STRICT');
    expect(decideYaml(b + a, plain).outcome).toBe('allow');
  });

  it('drops the peer identity under DISABLE', () => {
    const y =
      pa('shop', 'default', 'DISABLE') +
      ap(`  rules:\n    - from: [{ source: { principals: ['*'] } }]`);
    expect(decideYaml(y, {}).outcome).toBe('deny');
  });
});

describe('AuthorizationPolicy basics', () => {
  it('allows when no ALLOW policy applies', () => {
    expect(decideYaml('', {})).toMatchObject({
      outcome: 'allow',
      status: 200,
      reason: 'no ALLOW policy applies',
    });
  });

  it('denies everything with spec: {}', () => {
    const y = `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: deny-all, namespace: shop }\nspec: {}\n`;
    expect(decideYaml(y, {})).toMatchObject({
      outcome: 'deny',
      status: 403,
      policies: ['shop/deny-all'],
    });
  });

  it('allows everything with rules: [{}]', () => {
    expect(decideYaml(ap('  rules: [{}]'), {}).outcome).toBe('allow');
  });

  it('runs DENY before ALLOW', () => {
    const y =
      ap('  rules: [{}]', 'allow-all') +
      ap('  action: DENY\n  rules:\n    - to: [{ operation: { paths: [/admin] } }]', 'deny-admin');
    expect(decideYaml(y, { path: '/admin' })).toMatchObject({
      outcome: 'deny',
      status: 403,
      policies: ['shop/deny-admin'],
    });
    expect(decideYaml(y, { path: '/x' }).outcome).toBe('allow');
  });

  it('scopes by selector (subset match)', () => {
    const y = ap('  rules: []');
    expect(
      decideYaml(y, { destination: { namespace: 'shop', labels: { app: 'api', v: '1' } } }).outcome,
    ).toBe('deny');
    expect(
      decideYaml(y, { destination: { namespace: 'shop', labels: { app: 'web' } } }).outcome,
    ).toBe('allow');
  });

  it('never reaches another namespace except from the root namespace', () => {
    const other = `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: x, namespace: other }\nspec: {}\n---\n`;
    const root = `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: x, namespace: istio-system }\nspec: {}\n---\n`;
    expect(decideYaml(other, {}).outcome).toBe('allow');
    expect(decideYaml(root, {}).outcome).toBe('deny');
    expect(decideYaml(root, {}, { rootNamespace: 'mesh-root' }).outcome).toBe('allow');
  });

  it('resolves targetRefs to a Service selector', () => {
    const y = `apiVersion: v1\nkind: Service\nmetadata: { name: api, namespace: shop }\nspec: { selector: { app: api } }\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: t, namespace: shop }\nspec:\n  targetRefs: [{ kind: Service, group: '', name: api }]\n  action: DENY\n  rules: [{}]\n`;
    expect(decideYaml(y, {}).outcome).toBe('deny');
    expect(
      decideYaml(y, { destination: { namespace: 'shop', labels: { app: 'web' } } }).outcome,
    ).toBe('allow');
  });

  it('evaluates dry-run policies without enforcing them and says so', () => {
    const y = ap(
      '  action: DENY\n  rules: [{}]',
      'dry',
      "  annotations: { istio.io/dry-run: 'true' }\n",
    );
    const d = decideYaml(y, {});
    expect(d.outcome).toBe('allow');
    expect(d.reason).toContain('dry-run shop/dry would deny');
  });

  it('reports a matching CUSTOM policy as undecidable', () => {
    const y = ap(
      '  action: CUSTOM\n  provider: { name: ext-authz }\n  rules:\n    - to: [{ operation: { paths: [/admin] } }]',
    );
    expect(decideYaml(y, { path: '/admin' })).toMatchObject({ outcome: 'deny', status: 403 });
    expect(decideYaml(y, { path: '/admin' }).reason).toMatch(
      /^undecidable: CUSTOM provider 'ext-authz'/,
    );
    expect(decideYaml(y, { path: '/other' }).outcome).toBe('allow');
  });

  it('keeps decisions independent of document order', () => {
    const docs = [
      ap('  rules:\n    - to: [{ operation: { paths: [/a] } }]', 'a1'),
      ap('  rules:\n    - to: [{ operation: { paths: [/b] } }]', 'b1'),
      ap('  action: DENY\n  rules:\n    - to: [{ operation: { methods: [DELETE] } }]', 'd1'),
      RA,
    ];
    const reqs = [
      { path: '/a' },
      { path: '/b', method: 'DELETE' },
      { path: '/c' },
      { path: '/a', tokens: [token({}, { valid: false })] },
    ];
    const expected = reqs.map((r) => decideYaml(docs.join(''), r));
    for (const order of [
      [3, 2, 1, 0],
      [1, 3, 0, 2],
      [2, 0, 3, 1],
    ]) {
      const y = order.map((i) => docs[i] ?? '').join('');
      expect(reqs.map((r) => decideYaml(y, r))).toEqual(expected);
    }
  });
});

describe('sources', () => {
  const rule = (src: string) => ap(`  rules:\n    - from: [{ source: { ${src} } }]`);

  it.each([
    [
      'principals exact',
      "principals: ['cluster.local/ns/shop/sa/web']",
      { mtls: true, principal: 'cluster.local/ns/shop/sa/web' },
      'allow',
    ],
    ['principals over plaintext', "principals: ['*']", { mtls: false }, 'deny'],
    [
      'principals * with any cert',
      "principals: ['*']",
      { mtls: true, principal: 'cluster.local/ns/x/sa/y' },
      'allow',
    ],
    [
      'notPrincipals matches plaintext',
      "notPrincipals: ['cluster.local/ns/shop/sa/web']",
      { mtls: false },
      'allow',
    ],
    [
      'notPrincipals excludes',
      "notPrincipals: ['cluster.local/ns/shop/sa/web']",
      { mtls: true, principal: 'cluster.local/ns/shop/sa/web' },
      'deny',
    ],
    [
      'namespaces from peer identity',
      'namespaces: [shop]',
      { mtls: true, principal: 'cluster.local/ns/shop/sa/web' },
      'allow',
    ],
    ['namespaces need mTLS', 'namespaces: [shop]', { mtls: false }, 'deny'],
    [
      'serviceAccounts bare = policy namespace',
      'serviceAccounts: [web]',
      { mtls: true, principal: 'cluster.local/ns/shop/sa/web' },
      'allow',
    ],
    [
      'serviceAccounts ns/sa',
      "serviceAccounts: ['other/web']",
      { mtls: true, principal: 'cluster.local/ns/shop/sa/web' },
      'deny',
    ],
    [
      'ipBlocks CIDR',
      "ipBlocks: ['10.0.0.0/8']",
      { mtls: true, principal: 'cluster.local/ns/b/sa/c', ip: '10.1.2.3' },
      'allow',
    ],
    [
      'ipBlocks outside',
      "ipBlocks: ['10.0.0.0/8']",
      { mtls: true, principal: 'cluster.local/ns/b/sa/c', ip: '192.168.1.1' },
      'deny',
    ],
    ['ipBlocks IPv6', "ipBlocks: ['fd00::/8']", { mtls: true, ip: 'fd12::1' }, 'allow'],
  ])('%s', (_name, src, source, outcome) => {
    expect(decideYaml(rule(src), { source }).outcome).toBe(outcome);
  });

  it('matches remoteIpBlocks on the original client address', () => {
    const y = rule("remoteIpBlocks: ['203.0.113.0/24']");
    expect(decideYaml(y, { remoteIp: '203.0.113.7' }).outcome).toBe('allow');
    expect(decideYaml(y, { remoteIp: '198.51.100.1' }).outcome).toBe('deny');
  });

  it.each([
    ['*', { sub: 'u-1' }, 'allow'],
    ['*', { sub: undefined }, 'deny'],
    [`${ISS}/*`, { sub: 'u-1' }, 'allow'],
    [`${ISS}/u-1`, { sub: 'u-1' }, 'allow'],
    [`${ISS}/u-2`, { sub: 'u-1' }, 'deny'],
    ['*/u-1', { sub: 'u-1' }, 'allow'],
    // Istio splits the *pattern* at its last `/`: here into iss `https:/` and sub prefix
    // `auth.example.com` (requestPrincipalGenerator), so this issuer-prefix pattern never matches.
    ['https://auth.example.com*', { sub: 'u-1' }, 'deny'],
    [`${ISS}/*`, { sub: 'svc/order' }, 'allow'],
    [`${ISS}/svc/order`, { sub: 'svc/order' }, 'deny'],
    [`*/order`, { sub: 'svc/order' }, 'deny'],
    [`${ISS}/u-*`, { sub: 'u-1' }, 'allow'],
    [`*/realms/shop/u-1`, { sub: 'u-1' }, 'allow'],
    [`*.example.com/u-1`, { sub: 'u-1' }, 'deny'],
    ['*-1', { sub: 'u-1' }, 'allow'],
    ['*', { sub: '' }, 'deny'],
  ])('requestPrincipals %s with %j → %s', (pattern, claims, outcome) => {
    const y = RA + rule(`requestPrincipals: ['${pattern}']`);
    expect(decideYaml(y, { tokens: [token(claims)] }).outcome).toBe(outcome);
  });

  it('matches notRequestPrincipals when there is no token', () => {
    const y = RA + rule("notRequestPrincipals: ['*']");
    expect(decideYaml(y, {}).outcome).toBe('allow');
    expect(decideYaml(y, { tokens: [token({})] }).outcome).toBe('deny');
  });

  it('ANDs fields inside one source and ORs sources', () => {
    const y = ap(
      `  rules:\n    - from:\n        - source: { namespaces: [shop], ipBlocks: ['10.0.0.1'] }\n        - source: { namespaces: [ops] }`,
    );
    const p = (ns: string, ip: string) => ({
      mtls: true,
      principal: `cluster.local/ns/${ns}/sa/x`,
      ip,
    });
    expect(decideYaml(y, { source: p('shop', '10.0.0.1') }).outcome).toBe('allow');
    expect(decideYaml(y, { source: p('shop', '10.0.0.2') }).outcome).toBe('deny');
    expect(decideYaml(y, { source: p('ops', '10.0.0.2') }).outcome).toBe('allow');
  });
});

describe('operations', () => {
  const op = (o: string) => ap(`  rules:\n    - to: [{ operation: { ${o} } }]`);

  it.each([
    ["paths: ['/admin']", '/admin', 'allow'],
    ["paths: ['/admin']", '/admin?x=1#f', 'allow'],
    ["paths: ['/admin*']", '/administrator', 'allow'],
    ["paths: ['/admin/*']", '/admin', 'deny'],
    ["paths: ['/admin/*']", '/admin/x', 'allow'],
    ["paths: ['*.png']", '/img/a.png', 'allow'],
    ["paths: ['/a*b']", '/axb', 'deny'],
    ["paths: ['/a*b']", '/a*b', 'allow'],
    ["paths: ['/api/{*}']", '/api/x', 'allow'],
    ["paths: ['/api/{*}']", '/api/x/y', 'deny'],
    ["paths: ['/api/{*}']", '/api/', 'deny'],
    ["paths: ['/store/{**}/cart']", '/store/a/b/cart', 'allow'],
    ["paths: ['/store/{**}/cart']", '/store/cart', 'deny'],
    ["paths: ['/a/{**}']", '/a/', 'allow'],
    ["paths: ['/a/{**}']", '/a', 'deny'],
    // Envoy's uri_template: `{*}` is one or more pchar; the canonicalizer encodes `^{}|"<>` first
    ["paths: ['/api/{*}']", '/api/a[1]', 'deny'],
    ["paths: ['/api/{*}']", '/api/a=1', 'allow'],
    ["paths: ['/api/{*}']", '/api/a*', 'allow'],
    ["paths: ['/api/{*}']", '/api/a^b{c}|"<>`', 'allow'],
    ["paths: ['/api/{*}']", "/api/a;b:c@d!$&'()+,~-._%5B", 'allow'],
    ["paths: ['/api/{**}']", '/api/a/b[1]', 'deny'],
    ["paths: ['/api/{**}']", '/api/a/b:1', 'allow'],
    ["notPaths: ['/admin']", '/x', 'allow'],
    ["notPaths: ['/admin']", '/admin', 'deny'],
  ])('%s vs %s → %s', (o, path, outcome) => {
    expect(decideYaml(op(o), { path }).outcome).toBe(outcome);
  });

  it('keeps `//` under BASE (`{**}` may be empty) and merges it under the installed mesh', () => {
    const y = op("paths: ['/store/{**}/cart']");
    const base = { pathNormalization: 'BASE' } as const;
    expect(decideYaml(y, { path: '/store//cart' }, base).outcome).toBe('allow');
    expect(decideYaml(y, { path: '/store//cart' }).outcome).toBe('deny');
  });

  it('matches methods case-sensitively', () => {
    expect(decideYaml(op('methods: [GET]'), { method: 'get' }).outcome).toBe('deny');
    expect(decideYaml(op('methods: [GET]'), { method: 'GET' }).outcome).toBe('allow');
  });

  it('matches hosts case-insensitively with the port included', () => {
    const y = op("hosts: ['API.example.com']");
    expect(decideYaml(y, { host: 'api.EXAMPLE.com' }).outcome).toBe('allow');
    expect(decideYaml(y, { host: 'api.example.com:443' }).outcome).toBe('deny');
    expect(
      decideYaml(op("hosts: ['api.example.com:*']"), { host: 'api.example.com:443' }).outcome,
    ).toBe('allow');
  });

  it('matches ports on the container port', () => {
    const y = op("ports: ['8080']");
    expect(decideYaml(y, {}).outcome).toBe('allow');
    expect(
      decideYaml(y, { destination: { namespace: 'shop', labels: { app: 'api' }, port: 9090 } })
        .outcome,
    ).toBe('deny');
  });
});

describe('when conditions', () => {
  const when = (c: string) => RA + ap(`  rules:\n    - when: [{ ${c} }]`);

  it.each([
    ["key: 'request.headers[X-Env]', values: [prod]", { headers: { 'x-env': 'prod' } }, 'allow'],
    [
      "key: 'request.headers[x-env]', values: ['a,b']",
      { headers: { 'X-Env': ['a', 'b'] } },
      'allow',
    ],
    ["key: 'request.headers[x-env]', notValues: [prod]", {}, 'allow'],
    // `*` is Envoy's present_match: an empty value counts, an absent header does not
    ["key: 'request.headers[x-env]', values: ['*']", { headers: { 'x-env': '' } }, 'allow'],
    ["key: 'request.headers[x-env]', values: ['*']", {}, 'deny'],
    ["key: 'request.headers[x-env]', values: ['p*']", { headers: { 'x-env': '' } }, 'deny'],
    ["key: source.ip, values: ['10.0.0.0/8']", { source: { mtls: true, ip: '10.2.3.4' } }, 'allow'],
    ["key: remote.ip, values: ['203.0.113.7']", { remoteIp: '203.0.113.7' }, 'allow'],
    ['key: source.namespace, values: [shop]', { source: { mtls: false } }, 'deny'],
    ["key: source.principal, values: ['cluster.local/ns/shop/sa/web']", {}, 'allow'],
    ["key: source.serviceAccount, values: ['shop/web']", {}, 'allow'],
    ['key: source.trustDomain, values: [cluster.local]', {}, 'allow'],
    ["key: destination.port, values: ['8080']", {}, 'allow'],
    [
      "key: destination.ip, values: ['10.9.0.0/16']",
      { destination: { namespace: 'shop', labels: { app: 'api' }, ip: '10.9.1.1' } },
      'allow',
    ],
    [
      "key: connection.sni, values: ['*.shop.svc.cluster.local']",
      { sni: 'outbound_.8080_._.api.shop.svc.cluster.local' },
      'allow',
    ],
    ["key: request.auth.principal, values: ['" + ISS + "/u-1']", { tokens: [token({})] }, 'allow'],
    [
      'key: request.auth.audiences, values: [shop-api]',
      { tokens: [token({ aud: ['x', 'shop-api'] })] },
      'allow',
    ],
    ['key: request.auth.presenter, values: [web]', { tokens: [token({ azp: 'web' })] }, 'allow'],
    ['key: request.auth.presenter, values: [web]', {}, 'deny'],
    [
      "key: 'request.auth.claims[realm_access][roles]', values: [ADMIN]",
      { tokens: [token({ realm_access: { roles: ['USER', 'ADMIN'] } })] },
      'allow',
    ],
    [
      "key: 'request.auth.claims[realm_access][roles]', values: [ADMIN]",
      { tokens: [token({ realm_access: { roles: ['USER'] } })] },
      'deny',
    ],
    [
      "key: 'request.auth.claims[scope]', values: ['admin:read']",
      { tokens: [token({ scope: 'openid admin:read' })] },
      'allow',
    ],
    [
      "key: 'request.auth.claims[permission]', values: [w]",
      { tokens: [token({ permission: 'r w' })] },
      'allow',
    ],
    [
      "key: 'request.auth.claims[groups]', values: [b]",
      { tokens: [token({ groups: 'a b' })] },
      'deny',
    ],
    ["key: 'request.auth.claims[level]', values: ['3']", { tokens: [token({ level: 3 })] }, 'deny'],
    ["key: 'request.auth.claims[level]', notValues: ['3']", {}, 'allow'],
  ])('%s with %j → %s', (c, req, outcome) => {
    expect(decideYaml(when(c), req).outcome).toBe(outcome);
  });

  it('splits claims listed in spaceDelimitedClaims', () => {
    const ra = RA.replace(
      'audiences: [shop-api]',
      'audiences: [shop-api]\n      spaceDelimitedClaims: [groups]',
    );
    const y =
      ra + ap("  rules:\n    - when: [{ key: 'request.auth.claims[groups]', values: [b] }]");
    expect(decideYaml(y, { tokens: [token({ groups: 'a b' })] }).outcome).toBe('allow');
  });

  it('ANDs every when condition of a rule', () => {
    const y = ap(
      "  rules:\n    - when:\n        - { key: 'request.headers[a]', values: ['1'] }\n        - { key: 'request.headers[b]', values: ['2'] }",
    );
    expect(decideYaml(y, { headers: { a: '1', b: '2' } }).outcome).toBe('allow');
    expect(decideYaml(y, { headers: { a: '1' } }).outcome).toBe('deny');
  });
});

describe('JWT', () => {
  const y = RA + ALLOW_GET;

  it('passes a request without a token with no identity', () => {
    expect(decideYaml(y, {}).outcome).toBe('allow');
  });

  it('answers 401 to an invalid token', () => {
    expect(decideYaml(y, { tokens: [token({}, { valid: false })] })).toMatchObject({
      outcome: 'unauthenticated',
      status: 401,
      policies: ['shop/jwt'],
    });
  });

  it('answers 401 to an unknown issuer', () => {
    const d = decideYaml(y, { tokens: [token({ iss: 'https://evil' })] });
    expect(d).toMatchObject({ outcome: 'unauthenticated', status: 401 });
    expect(d.reason).toContain("'https://evil'");
  });

  it('answers 403 to an audience mismatch', () => {
    expect(decideYaml(y, { tokens: [token({ aud: 'other' })] })).toMatchObject({
      outcome: 'deny',
      status: 403,
    });
  });

  it('requires every presented token to be valid', () => {
    const tokens = [token({}), token({}, { valid: false, location: { param: 'access_token' } })];
    expect(decideYaml(y, { tokens }).status).toBe(401);
  });

  it('reads ?access_token= by default', () => {
    expect(
      decideYaml(y, { tokens: [token({}, { valid: false, location: { param: 'access_token' } })] })
        .status,
    ).toBe(401);
  });

  it('treats a token outside fromHeaders as missing, not invalid', () => {
    const ra = RA.replace(
      'audiences: [shop-api]',
      'audiences: [shop-api]\n      fromHeaders: [{ name: x-jwt }]',
    );
    const yy = ra + ALLOW_GET;
    expect(decideYaml(yy, { tokens: [token({}, { valid: false })] }).outcome).toBe('allow');
    expect(
      decideYaml(yy, { tokens: [token({}, { valid: false, location: { header: 'X-JWT' } })] })
        .status,
    ).toBe(401);
  });

  it('reads fromCookies and fromParams', () => {
    const ra = RA.replace(
      'audiences: [shop-api]',
      'audiences: [shop-api]\n      fromCookies: [session]\n      fromParams: [t]',
    );
    expect(
      decideYaml(ra, { tokens: [token({}, { valid: false, location: { cookie: 'session' } })] })
        .status,
    ).toBe(401);
    expect(
      decideYaml(ra, { tokens: [token({}, { valid: false, location: { param: 't' } })] }).status,
    ).toBe(401);
    expect(
      decideYaml(ra, { tokens: [token({}, { valid: false, location: { param: 'access_token' } })] })
        .status,
    ).toBe(200);
  });

  it('merges jwtRules of the root namespace, namespace and selector', () => {
    const root = `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: mesh, namespace: istio-system }\nspec:\n  jwtRules: [{ issuer: https://other }]\n---\n`;
    const yy =
      RA +
      root +
      ap(`  rules:\n    - from: [{ source: { requestPrincipals: ['https://other/*'] } }]`);
    expect(decideYaml(yy, { tokens: [token({ iss: 'https://other' })] }).outcome).toBe('allow');
  });

  it('ignores tokens on a workload without RequestAuthentication', () => {
    expect(decideYaml(ALLOW_GET, { tokens: [token({}, { valid: false })] }).outcome).toBe('allow');
  });
});

describe('TCP', () => {
  it('drops ALLOW rules that use HTTP-only fields (all TCP denied if none survive)', () => {
    const y = ap('  rules:\n    - to: [{ operation: { methods: [GET] } }]');
    expect(decideYaml(y, { protocol: 'tcp' }).outcome).toBe('deny');
  });

  it('keeps ALLOW rules without HTTP-only fields', () => {
    const y = ap("  rules:\n    - to: [{ operation: { ports: ['8080'] } }]");
    expect(decideYaml(y, { protocol: 'tcp' }).outcome).toBe('allow');
  });

  it('widens DENY by dropping HTTP-only fields', () => {
    const y = ap('  action: DENY\n  rules:\n    - to: [{ operation: { methods: [GET] } }]');
    expect(decideYaml(y, { protocol: 'tcp' }).outcome).toBe('deny');
    expect(decideYaml(y, { protocol: 'http', method: 'POST' }).outcome).toBe('allow');
  });
});

describe('path normalization in decisions', () => {
  const deny = ap('  action: DENY\n  rules:\n    - to: [{ operation: { paths: [/admin] } }]');

  it.each([
    ['/app/%2E./admin', 'BASE', 'deny'],
    ['/app/../admin', 'BASE', 'deny'],
    ['/app/../admin', 'NONE', 'allow'],
    ['//admin', 'BASE', 'allow'],
    ['//admin', 'MERGE_SLASHES', 'deny'],
    ['/x%2F..%2Fadmin', 'MERGE_SLASHES', 'allow'],
    ['/x%2F..%2Fadmin', 'DECODE_AND_MERGE_SLASHES', 'deny'],
    ['/ADMIN', 'DECODE_AND_MERGE_SLASHES', 'allow'],
  ] as const)('%s under %s → %s', (path, mode, outcome) => {
    expect(decideYaml(deny, { path }, { pathNormalization: mode }).outcome).toBe(outcome);
  });

  it('rejects %00 with 400', () => {
    expect(decideYaml(deny, { path: '/a%00' })).toMatchObject({ outcome: 'deny', status: 400 });
  });
});

describe('gateway-style principals', () => {
  it('lets the ingress gateway identity through a principals rule', () => {
    const y = ap(`  rules:\n    - from: [{ source: { principals: ['${GW}'] } }]`);
    expect(decideYaml(y, { source: { mtls: true, principal: GW } }).outcome).toBe('allow');
  });

  it('reuses the compiled plan for repeated workloads', () => {
    const compiled = compile({ objects: parseManifests(ALLOW_GET, 't') });
    const req = { destination: { namespace: 'shop', labels: { app: 'api' } }, method: 'GET' };
    expect(decide(compiled, req)).toEqual(decide(compiled, req));
    expect(compiled.plan('shop', { app: 'api' })).toBe(compiled.plan('shop', { app: 'api' }));
  });
});

describe('plan cache', () => {
  const shop = loadManifests([join(process.cwd(), 'test/engine/fixtures/shop.yaml')]);
  const requests = (): MeshRequest[] => {
    const out: MeshRequest[] = [];
    const sources = [
      { mtls: true, principal: GW },
      { mtls: true, principal: 'cluster.local/ns/shop/sa/orders' },
      { mtls: true, principal: 'cluster.local/ns/shop/sa/reconciler' },
      { mtls: false },
    ];
    const tokens = [
      [],
      [token({ realm_access: { roles: ['USER'] } })],
      [token({}, { valid: false })],
    ];
    for (const app of ['orders', 'payments', 'reconciler', 'unknown']) {
      for (const source of sources) {
        for (const tokenSet of tokens) {
          for (const path of ['/api/orders', '/api/payments', '/api/public/o-1', '/x']) {
            out.push({
              destination: { namespace: 'shop', labels: { app, version: 'v1' }, port: 8080 },
              source,
              method: 'GET',
              path,
              tokens: tokenSet,
            });
          }
        }
      }
    }
    return out;
  };

  it('decides fresh labels objects as it decides reused ones', () => {
    // GIVEN one stream decided twice with the same labels objects, one with fresh copies
    // (other key order, an extra label no selector reads), each on its own compile
    const reused = compile(shop);
    const fresh = compile(shop);
    const stream = requests();
    const first = stream.map((r) => decide(reused, r));
    const again = stream.map((r) => decide(reused, r));
    const copies = stream.map((r) =>
      decide(fresh, {
        ...r,
        destination: {
          ...r.destination,
          labels: { build: String(Math.random()), ...r.destination.labels },
        },
      }),
    );
    // THEN the decisions are identical, and not one-sided
    expect(again).toEqual(first);
    expect(copies).toEqual(first);
    expect(new Set(first.map((d) => d.outcome)).size).toBeGreaterThan(2);
  });

  it('shares a plan between label sets that agree on every selector key', () => {
    const compiled = compile(shop);
    const plan = compiled.plan('shop', { app: 'orders', version: 'v1' });
    expect(compiled.plan('shop', { version: 'v2', app: 'orders' })).toBe(plan);
    expect(compiled.plan('shop', { app: 'payments', version: 'v1' })).not.toBe(plan);
    expect(compiled.plan('other', { app: 'orders', version: 'v1' })).not.toBe(plan);
    expect(compiled.plan('shop', {})).not.toBe(plan);
  });
});

describe('the TLS handshake before any policy', () => {
  const peer = (principal: string) => ({ source: { mtls: true, principal } });

  it('resets a peer from another trust domain, even one the policies would allow', () => {
    const y = ap("  rules:\n    - from: [{ source: { principals: ['*'] } }]");
    const d = decideYaml(y, peer('other.example/ns/shop/sa/web'));
    expect(d).toMatchObject({ outcome: 'reset', status: 0 });
    expect(d.reason).toContain('outside the trust domain cluster.local');
    expect(decideYaml(y, peer('cluster.local/ns/shop/sa/web')).outcome).toBe('allow');
  });

  it('accepts the configured trust domain and its aliases', () => {
    const opts = { trustDomain: 'corp.example', trustDomainAliases: ['old.example'] };
    expect(decideYaml('', peer('corp.example/ns/shop/sa/web'), opts).outcome).toBe('allow');
    expect(decideYaml('', peer('old.example/ns/shop/sa/web'), opts).outcome).toBe('allow');
    expect(decideYaml('', peer('cluster.local/ns/shop/sa/web'), opts).outcome).toBe('reset');
  });

  it('does not check a plaintext caller on a PERMISSIVE port', () => {
    expect(decideYaml('', { source: { mtls: false, principal: 'x/ns/a/sa/b' } }).outcome).toBe(
      'allow',
    );
  });
});

describe("the sidecar's own ports", () => {
  it.each([15020, 15021, 15090])('allows port %i whatever the policies say', (port) => {
    const y = ap('  rules: []', 'deny-all');
    const dest = { namespace: 'shop', labels: { app: 'api' }, port };
    const d = decideYaml(y, { destination: dest, source: { mtls: false } });
    expect(d).toMatchObject({ outcome: 'allow', status: 200 });
    expect(d.reason).toContain('outside authorization');
    expect(decideYaml(y, {}).outcome).toBe('deny');
  });
});

describe('gateway TLS servers (SNI)', () => {
  const gateway = (hosts: string) => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: web, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
    - port: { number: 443, name: https, protocol: HTTPS }
      hosts: [${hosts}]
      tls: { mode: SIMPLE, credentialName: web-tls }
    - port: { number: 80, name: http, protocol: HTTP }
      hosts: ['*']
---
`;
  const to = (port: number, sni?: string) => ({
    destination: { namespace: 'istio-system', labels: { istio: 'ingressgateway' }, port },
    source: { mtls: false, ip: '203.0.113.7' },
    ...(sni === undefined ? {} : { sni }),
  });

  it.each([
    ["'shop/shop.example.com', auth.example.com", 8443, 'shop.example.com', 'allow'],
    ["'shop/shop.example.com', auth.example.com", 8443, 'AUTH.example.com', 'allow'],
    ["'shop/shop.example.com', auth.example.com", 8443, undefined, 'reset'],
    ["'shop/shop.example.com', auth.example.com", 8443, 'other.example.com', 'reset'],
    ["'*.example.com'", 8443, 'a.b.example.com', 'allow'],
    ["'*.example.com'", 8443, 'example.com', 'reset'],
    ["'*'", 8443, undefined, 'allow'],
    ["'shop.example.com'", 8080, undefined, 'allow'],
  ])('hosts [%s], port %i, SNI %s → %s', (hosts, port, sni, outcome) => {
    const d = decideYaml(gateway(hosts), to(port, sni));
    expect(d.outcome).toBe(outcome);
    if (outcome === 'reset') {
      expect(d).toMatchObject({ status: 0, policies: ['istio-system/web'] });
      expect(d.reason).toContain("gateway's port 8443");
    }
  });

  it('maps the server port through the gateway Service in the manifests', () => {
    const svc = `apiVersion: v1
kind: Service
metadata: { name: gw, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  ports: [{ port: 443, targetPort: 9443 }]
---
`;
    const y = gateway("'shop.example.com'") + svc;
    expect(decideYaml(y, to(9443)).outcome).toBe('reset');
    expect(decideYaml(y, to(8443)).outcome).toBe('allow');
  });

  it('does not apply a STRICT PeerAuthentication to the gateway listener', () => {
    const strict = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
`;
    expect(decideYaml(gateway("'*'") + strict, to(8443)).outcome).toBe('allow');
  });
});

describe('CORS preflight', () => {
  const preflight = { origin: 'https://shop.example.com', 'access-control-request-method': 'POST' };
  const y = RA + ap("  rules:\n    - from: [{ source: { requestPrincipals: ['*'] } }]");

  it('does not verify the tokens of a preflight (bypass_cors_preflight): no identity, 403 not 401', () => {
    const bad = { tokens: [token({}, { valid: false })], method: 'OPTIONS' };
    expect(decideYaml(y, { ...bad, headers: preflight })).toMatchObject({
      outcome: 'deny',
      status: 403,
    });
    expect(decideYaml(y, { ...bad, headers: {} }).outcome).toBe('unauthenticated');
    const good = { tokens: [token({})], method: 'OPTIONS' };
    expect(decideYaml(y, { ...good, headers: preflight }).outcome).toBe('deny');
    expect(decideYaml(y, { ...good, headers: { origin: 'https://x' } }).outcome).toBe('allow');
  });
});

describe("what Envoy's HTTP/1 codec refuses before any filter", () => {
  it.each([
    [{ method: 'get' }, "method 'get'"],
    [{ method: 'FOO' }, "method 'FOO'"],
    [{ path: 'api/x' }, "'api/x' is not a path"],
    [{ path: '/caf\u00e9' }, 'outside visible ASCII'],
    [{ method: 'CONNECT', path: '/api' }, "CONNECT with the path '/api'"],
  ])('answers 400 to %j', (req, reason) => {
    const d = decideYaml('', req);
    expect(d).toMatchObject({ outcome: 'deny', status: 400 });
    expect(d.reason).toContain(reason);
  });

  it.each(['GET', 'PURGE', 'PROPFIND', 'M-SEARCH'])('accepts the method %s', (method) => {
    expect(decideYaml('', { method }).outcome).toBe('allow');
  });

  it('accepts OPTIONS *', () => {
    expect(decideYaml('', { method: 'OPTIONS', path: '*' }).outcome).toBe('allow');
  });
});
