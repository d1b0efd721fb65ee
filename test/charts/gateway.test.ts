import { App, Chart, Testing } from 'cdk8s';

import { buildApp } from '../../charts/app.js';
import {
  ApiGateway,
  type ApiGatewayProps,
  type GatewayBackend,
  type GatewayRoute,
} from '../../charts/lib/index.js';
import { anyOf, pathMatcher } from '../../policies/engine/match.js';
import { shopGateway } from '../../policies/gateway.js';
import { shop } from '../../policies/shop.js';
import type { KubeObject } from '../support/manifests.js';
import { SchemaValidator } from '../support/schema.js';

const ISSUER = 'https://auth.example.com/realms/shop';
const route = (r: Partial<GatewayRoute> & Pick<GatewayRoute, 'paths'>): GatewayRoute => ({
  public: false,
  roles: [],
  scopes: [],
  clients: [],
  ...r,
});
const orders: GatewayBackend = {
  name: 'order-service',
  namespace: 'shop',
  serviceName: 'order-service',
  port: 8080,
  routes: [
    route({ methods: ['GET'], paths: ['/api/public/*'], public: true }),
    route({ methods: ['GET', 'POST'], paths: ['/api/orders'], roles: ['USER'] }),
    route({ paths: ['/api/orders/{*}'], roles: ['USER'] }),
  ],
};
const base: ApiGatewayProps = {
  hosts: [{ host: 'api.example.com', credentialName: 'api-tls' }],
  routes: [{ host: 'api.example.com', backend: 'order-service' }],
  backends: [orders],
  issuer: { issuer: ISSUER, jwksUri: 'https://auth.example.com/certs', audiences: ['api'] },
};

function synth(props: Partial<ApiGatewayProps> = {}): KubeObject[] {
  const chart = new Chart(Testing.app(), 'test', { disableResourceNameHashes: true });
  new ApiGateway(chart, 'Gateway', { ...base, ...props });
  return chart.toJson() as KubeObject[];
}

const find = (objs: KubeObject[], kind: string, name: string): KubeObject => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in ${objs.map((x) => x.metadata.name).join(', ')}`);
  return o;
};

// A minimal evaluator of the AuthorizationPolicy fields the gateway writes, Istio semantics.
interface Req {
  host: string;
  method: string;
  path: string;
  principal?: string;
  headers?: Record<string, string>;
  claims?: Record<string, string[]>;
}
type Rule = {
  from?: { source: Record<string, string[]> }[];
  to?: { operation: Record<string, string[]> }[];
  when?: { key: string; values?: string[]; notValues?: string[] }[];
};
const field = (
  values: string[] | undefined,
  nots: string[] | undefined,
  v: string | undefined,
  match: (ps: string[]) => (s: string) => boolean,
): boolean =>
  (values === undefined || (v !== undefined && match(values)(v))) &&
  (nots === undefined || v === undefined || !match(nots)(v));
const paths = (ps: string[]) => (p: string) => ps.some((x) => pathMatcher(x)(p));
function ruleMatches(rule: Rule, r: Req): boolean {
  const src = (s: Record<string, string[]>) =>
    field(s.requestPrincipals, s.notRequestPrincipals, r.principal, anyOf) &&
    field(s.remoteIpBlocks, s.notRemoteIpBlocks, '10.1.2.3', () => () => true);
  const op = (o: Record<string, string[]>) =>
    field(o.hosts, o.notHosts, r.host, (ps) => anyOf(ps, true)) &&
    field(o.methods, o.notMethods, r.method, anyOf) &&
    field(o.paths, o.notPaths, r.path, paths);
  const cond = (w: { key: string; values?: string[]; notValues?: string[] }) => {
    const header = /^request\.headers\[(.+)\]$/.exec(w.key)?.[1];
    const v = header ? r.headers?.[header] : undefined;
    if (header) return field(w.values, w.notValues, v, anyOf);
    const claim = Object.entries(r.claims ?? {}).find(([k]) => k === w.key)?.[1] ?? [];
    return (w.values ?? []).some((x) => claim.includes(x));
  };
  return (
    (rule.from === undefined || rule.from.some((f) => src(f.source))) &&
    (rule.to === undefined || rule.to.some((t) => op(t.operation))) &&
    (rule.when ?? []).every(cond)
  );
}
function decide(objs: KubeObject[], r: Req): 'allow' | 'deny' {
  const policies = objs.filter((o) => o.kind === 'AuthorizationPolicy');
  const rules = (action: string) =>
    policies
      .filter((p) => p.spec?.action === action)
      .flatMap((p) => (p.spec?.rules ?? []) as Rule[]);
  if (rules('DENY').some((x) => ruleMatches(x, r))) return 'deny';
  const allow = rules('ALLOW');
  return allow.some((x) => ruleMatches(x, r)) ? 'allow' : 'deny';
}
const sample = (p: string): string =>
  p
    .replace(/\{\*\*\}/g, 'a/b')
    .replace(/\{\*\}/g, '42')
    .replace(/\*$/, 'x');

describe('ApiGateway', () => {
  test('renders the Gateway with HTTPS per host and an HTTP redirect', () => {
    // GIVEN one host WHEN synthesized
    const gw = find(synth(), 'Gateway', 'meshward-gateway');
    // THEN 443 terminates TLS with the credential and 80 only redirects
    expect(gw.metadata.namespace).toBe('istio-system');
    expect(gw.spec).toEqual({
      selector: { istio: 'ingressgateway' },
      servers: [
        {
          port: { number: 443, name: 'https-api-example-com', protocol: 'HTTPS' },
          hosts: ['api.example.com'],
          tls: { mode: 'SIMPLE', credentialName: 'api-tls' },
        },
        {
          port: { number: 80, name: 'http', protocol: 'HTTP' },
          hosts: ['api.example.com'],
          tls: { httpsRedirect: true },
        },
      ],
    });
  });

  test('routes each path prefix to the backend FQDN, most specific first', () => {
    const vs = find(synth(), 'VirtualService', 'meshward-gateway-api-example-com');
    const http = vs.spec?.http as { match: { uri: Record<string, string> }[]; route: unknown[] }[];
    expect(http.map((h) => h.match[0]?.uri)).toEqual([
      { prefix: '/api/orders/' },
      { prefix: '/api/public/' },
      { exact: '/api/orders' },
    ]);
    expect(http[0]?.route).toEqual([
      { destination: { host: 'order-service.shop.svc.cluster.local', port: { number: 8080 } } },
    ]);
  });

  test('routes an exact path ending in / (the root) exactly, not as a catch-all prefix', () => {
    const web: GatewayBackend = {
      name: 'web',
      namespace: 'shop',
      serviceName: 'web',
      port: 8080,
      routes: [route({ methods: ['GET'], paths: ['/', '/callback'], public: true })],
    };
    const vs = find(
      synth({
        backends: [orders, web],
        routes: [
          { host: 'api.example.com', backend: 'order-service' },
          { host: 'api.example.com', backend: 'web' },
        ],
      }),
      'VirtualService',
      'meshward-gateway-api-example-com',
    );
    const http = vs.spec?.http as { name: string; match: { uri: Record<string, string> }[] }[];
    expect(http.map((h) => [h.name, h.match[0]?.uri])).toEqual([
      ['order-service-prefix-api-orders', { prefix: '/api/orders/' }],
      ['order-service-prefix-api-public', { prefix: '/api/public/' }],
      ['order-service-exact-api-orders', { exact: '/api/orders' }],
      ['web-exact-callback', { exact: '/callback' }],
      ['web-exact-root', { exact: '/' }],
    ]);
  });

  test('throws when a public route of one backend overlaps a token route of another on a host (red-team M3), naming both', () => {
    const open: GatewayBackend = {
      ...orders,
      name: 'open',
      serviceName: 'open',
      routes: [route({ methods: ['GET'], paths: ['/api/*'], public: true })],
    };
    expect(() =>
      synth({
        backends: [orders, open],
        routes: [
          { host: 'api.example.com', backend: 'order-service' },
          { host: 'api.example.com', backend: 'open' },
        ],
      }),
    ).toThrow(
      "route 'open' /api/* on 'api.example.com' conflicts with route 'order-service' /api/orders on 'api.example.com': GET '/api/*' and '/api/orders' overlap",
    );
  });

  test('throws when two backends claim the same path on a host', () => {
    const clash: GatewayBackend = {
      ...orders,
      name: 'clash',
      serviceName: 'clash',
      routes: [route({ methods: ['GET'], paths: ['/api/orders'], roles: ['USER'] })],
    };
    expect(() =>
      synth({
        backends: [orders, clash],
        routes: [
          { host: 'api.example.com', backend: 'order-service' },
          { host: 'api.example.com', backend: 'clash' },
        ],
      }),
    ).toThrow(
      "host 'api.example.com' path '/api/orders' is claimed by both 'order-service' and 'clash'",
    );
  });

  test('applies CORS with exact origins and credentials', () => {
    const vs = find(
      synth({ cors: { allowOrigins: ['https://app.example.com'] } }),
      'VirtualService',
      'meshward-gateway-api-example-com',
    );
    const http = vs.spec?.http as { corsPolicy: Record<string, unknown> }[];
    expect(http[0]?.corsPolicy).toMatchObject({
      allowOrigins: [{ exact: 'https://app.example.com' }],
      allowCredentials: true,
    });
  });

  test('binds the issuer to the gateway workload only', () => {
    const ra = find(synth(), 'RequestAuthentication', 'meshward-gateway-jwt');
    expect(ra.metadata.namespace).toBe('istio-system');
    expect(ra.spec?.selector).toEqual({ matchLabels: { istio: 'ingressgateway' } });
  });

  test('a token-less request reaches only public routes and preflights', () => {
    // GIVEN a gateway with CORS
    const objs = synth({ cors: { allowOrigins: ['https://app.example.com'] } });
    const host = 'api.example.com';
    // THEN public GET passes without a token, the rest does not
    expect(decide(objs, { host, method: 'GET', path: '/api/public/x' })).toBe('allow');
    expect(decide(objs, { host: `${host}:443`, method: 'GET', path: '/api/public/x' })).toBe(
      'allow',
    );
    expect(decide(objs, { host, method: 'GET', path: '/api/orders' })).toBe('deny');
    expect(decide(objs, { host, method: 'POST', path: '/api/public/x' })).toBe('deny');
    expect(decide(objs, { host, method: 'GET', path: '/api/other' })).toBe('deny');
    // AND a valid token with the role passes, without the role it does not
    const principal = `${ISSUER}/alice`;
    const roles = { 'request.auth.claims[realm_access][roles]': ['USER'] };
    expect(
      decide(objs, { host, method: 'GET', path: '/api/orders', principal, claims: roles }),
    ).toBe('allow');
    expect(decide(objs, { host, method: 'GET', path: '/api/orders', principal })).toBe('deny');
    // AND a preflight from an allowed origin passes, from another origin it does not
    const preflight = (origin: string): Req => ({
      host,
      method: 'OPTIONS',
      path: '/api/orders',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
    expect(decide(objs, preflight('https://app.example.com'))).toBe('allow');
    expect(decide(objs, preflight('https://evil.example.com'))).toBe('deny');
  });

  test('the require-jwt DENY holds even when another ALLOW policy admits everything', () => {
    const objs = synth();
    const allowAll = {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'careless', namespace: 'istio-system' },
      spec: { action: 'ALLOW', rules: [{}] },
    } as KubeObject;
    const host = 'api.example.com';
    expect(decide([...objs, allowAll], { host, method: 'GET', path: '/api/orders' })).toBe('deny');
    expect(decide([...objs, allowAll], { host, method: 'GET', path: '/api/public/x' })).toBe(
      'allow',
    );
  });

  // Red-team L5: a backend must never hear the client's own X-Forwarded-*.
  test('GIVEN any route WHEN rendered THEN the gateway writes X-Forwarded-For (the address it decided on) and X-Forwarded-Host (the route host) itself and removes the other forwarding headers', () => {
    const routes = synth()
      .filter((o) => o.kind === 'VirtualService')
      .flatMap((vs) =>
        (vs.spec?.http as { headers?: unknown }[]).map((h) => ({
          host: (vs.spec?.hosts as string[])[0],
          headers: h.headers,
        })),
      );
    expect(routes.length).toBeGreaterThan(0);
    for (const { host, headers } of routes) {
      expect(headers).toEqual({
        request: {
          set: {
            'x-forwarded-for': '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%',
            'x-forwarded-host': host,
          },
          remove: [
            'forwarded',
            'x-forwarded-port',
            'x-forwarded-prefix',
            'x-forwarded-server',
            'x-real-ip',
          ],
        },
      });
    }
  });

  test('adds the allowlist DENY only when an allowlist is set', () => {
    const names = (objs: KubeObject[]) => objs.map((o) => o.metadata.name);
    expect(names(synth())).not.toContain('meshward-gateway-ip-allowlist');
    const deny = find(
      synth({ allowedCidrs: ['198.51.100.0/24', '2001:db8::/32'] }),
      'AuthorizationPolicy',
      'meshward-gateway-ip-allowlist',
    );
    expect(deny.spec).toEqual({
      selector: { matchLabels: { istio: 'ingressgateway' } },
      action: 'DENY',
      rules: [{ from: [{ source: { notRemoteIpBlocks: ['198.51.100.0/24', '2001:db8::/32'] } }] }],
    });
  });

  test('the selector is overridable and every object follows it', () => {
    const objs = synth({ selector: { app: 'edge' }, namespace: 'edge' });
    const selectors = objs.map((o) =>
      o.kind === 'EnvoyFilter'
        ? (o.spec?.workloadSelector as { labels: unknown }).labels
        : o.kind === 'Gateway'
          ? o.spec?.selector
          : (o.spec?.selector as { matchLabels?: unknown } | undefined)?.matchLabels,
    );
    expect(selectors.filter((s) => s !== undefined)).toEqual(
      Array<unknown>(selectors.filter((s) => s !== undefined).length).fill({ app: 'edge' }),
    );
    expect(new Set(objs.map((o) => o.metadata.namespace))).toEqual(new Set(['edge']));
  });

  describe('bad input', () => {
    test.each<[string, Partial<ApiGatewayProps>, RegExp]>([
      ['an invalid CIDR', { allowedCidrs: ['10.0.0.300/8'] }, /CIDR '10\.0\.0\.300\/8'/],
      [
        'a CIDR with host bits',
        { allowedCidrs: ['10.0.0.1/8'] },
        /CIDR '10\.0\.0\.1\/8' has host bits/,
      ],
      ['a prefix too long', { allowedCidrs: ['10.0.0.0/33'] }, /CIDR '10\.0\.0\.0\/33'/],
      [
        'overlapping CIDRs',
        { allowedCidrs: ['10.1.0.0/16', '10.1.2.0/24'] },
        /'10\.1\.0\.0\/16' and '10\.1\.2\.0\/24' overlap/,
      ],
      // red-team M2: behind the default SNAT every client has a node address.
      [
        'a whole RFC 1918 range',
        { allowedCidrs: ['10.0.0.0/8'] },
        /'allowedCidrs' entry '10\.0\.0\.0\/8' admits the whole private range '10\.0\.0\.0\/8'.*externalTrafficPolicy/,
      ],
      [
        'a range wider than a private one',
        { allowedCidrs: ['172.0.0.0/8'] },
        /entry '172\.0\.0\.0\/8' admits the whole private range '172\.16\.0\.0\/12'/,
      ],
      [
        'every address',
        { allowedCidrs: ['0.0.0.0/0'] },
        /entry '0\.0\.0\.0\/0' admits the whole private range '10\.0\.0\.0\/8'/,
      ],
      [
        'IPv6 unique-local space',
        { allowedCidrs: ['fc00::/7'] },
        /entry 'fc00::\/7' admits the whole private range 'fc00::\/7'/,
      ],
      [
        "a range inside the cluster's pod range",
        { allowedCidrs: ['10.244.1.0/24'], clusterCidrs: ['10.244.0.0/16'] },
        /entry '10\.244\.1\.0\/24' overlaps the cluster range '10\.244\.0\.0\/16' \(clusterCidrs\)/,
      ],
      [
        "a range around the cluster's node range",
        { allowedCidrs: ['172.18.0.0/15'], clusterCidrs: ['172.18.0.0/16'] },
        /entry '172\.18\.0\.0\/15' overlaps the cluster range '172\.18\.0\.0\/16'/,
      ],
      [
        'an invalid cluster range',
        { allowedCidrs: ['192.168.1.0/24'], clusterCidrs: ['10.244.0.0/33'] },
        /clusterCidrs: CIDR '10\.244\.0\.0\/33'/,
      ],
      [
        'overlapping IPv6 CIDRs',
        { allowedCidrs: ['2001:db8::/32', '2001:db8:1::/48'] },
        /'2001:db8::\/32' and '2001:db8:1::\/48' overlap/,
      ],
      ['an empty allowlist', { allowedCidrs: [] }, /'allowedCidrs' is empty/],
      [
        'a wildcard CORS origin with credentials',
        { cors: { allowOrigins: ['*'] } },
        /CORS origin '\*' is a wildcard while credentials are allowed/,
      ],
      [
        'a CORS origin with a path',
        { cors: { allowOrigins: ['https://app.example.com/x'] } },
        /CORS origin 'https:\/\/app\.example\.com\/x'/,
      ],
      [
        'a rate of 0',
        { localRateLimit: { requestsPerSecond: 0 } },
        /ApiGateway 'Gateway': 'localRateLimit\.requestsPerSecond' \(0\)/,
      ],
      [
        'a burst below the rate',
        { localRateLimit: { requestsPerSecond: 10, burst: 5 } },
        /'localRateLimit\.burst' \(5\) must be an integer >= 'requestsPerSecond' \(10\)/,
      ],
      ['a body limit of 0', { maxRequestBytes: 0 }, /'maxRequestBytes' \(0\)/],
      ['a negative body limit', { maxRequestBytes: -1 }, /'maxRequestBytes' \(-1\)/],
      [
        'a host that no route serves',
        { hosts: [...base.hosts, { host: 'idle.example.com', credentialName: 'idle-tls' }] },
        /host 'idle\.example\.com' is served by no route/,
      ],
      [
        'a route to an unknown service',
        { routes: [{ host: 'api.example.com', backend: 'billing' }] },
        /unknown service 'billing'/,
      ],
      [
        'a route on an undeclared host',
        { routes: [...base.routes, { host: 'x.example.com', backend: 'order-service' }] },
        /host 'x\.example\.com', which is not in 'hosts'/,
      ],
      [
        'a wildcard host',
        { hosts: [{ host: '*.example.com', credentialName: 'x' }] },
        /host '\*\.example\.com'/,
      ],
      ['token routes without an issuer', { issuer: undefined }, /need a token .* no 'issuer'/],
      [
        'a global limit that limits nothing',
        { globalRateLimit: {} },
        /set 'perClient' and\/or 'perPath'/,
      ],
      [
        'a global quota of 0',
        { globalRateLimit: { perClient: { requestsPerUnit: 0 } } },
        /'perClient\.requestsPerUnit' \(0\)/,
      ],
    ])('throws when given %s', (_what, props, message) => {
      expect(() => synth(props)).toThrow(message);
    });
  });
});

describe('the shop gateway (chart gateway)', () => {
  const app: App = buildApp({ outdir: 'unused' });
  const chart = app.charts.find((c) => c.node.id === 'gateway');
  const objs = (chart?.toJson() ?? []) as KubeObject[];
  const schema = new SchemaValidator();

  test('passes the upstream schemas', () => {
    expect(objs.length).toBeGreaterThan(10);
    for (const o of objs) expect(schema.validate(o)).toEqual([]);
  });

  test('no non-public shop route is reachable at the gateway without a token', () => {
    const routes = shop.services
      .filter((s) => s.exposed)
      .flatMap((s) => s.routes.filter((r) => !r.public));
    expect(routes.length).toBeGreaterThan(0);
    for (const r of routes) {
      for (const method of r.methods ?? ['GET', 'POST', 'DELETE']) {
        for (const p of r.paths) {
          const req = { host: 'shop.example.com', method, path: sample(p) };
          expect([req, decide(objs, req)]).toEqual([req, 'deny']);
        }
      }
    }
    // AND the public ones are
    expect(decide(objs, { host: 'shop.example.com', method: 'GET', path: '/api/public/x' })).toBe(
      'allow',
    );
    expect(
      decide(objs, { host: 'auth.shop.example.com', method: 'GET', path: '/realms/shop/account' }),
    ).toBe('allow');
    expect(decide(objs, { host: 'auth.shop.example.com', method: 'GET', path: '/admin/x' })).toBe(
      'deny',
    );
  });

  test('the allowlist DENY is present because the intent sets one', () => {
    expect(shopGateway.allowedCidrs?.length).toBeGreaterThan(0);
    const deny = find(objs, 'AuthorizationPolicy', 'meshward-gateway-ip-allowlist');
    expect(deny.spec?.action).toBe('DENY');
  });

  test('every EnvoyFilter selects only the gateway', () => {
    const filters = objs.filter((o) => o.kind === 'EnvoyFilter');
    expect(filters.map((f) => f.metadata.name).sort()).toEqual([
      'meshward-gateway-body-limit',
      'meshward-gateway-local-ratelimit',
      'meshward-gateway-ratelimit',
      'meshward-gateway-ratelimit-actions',
    ]);
    for (const f of filters) {
      expect(f.spec?.workloadSelector).toEqual({ labels: { istio: 'ingressgateway' } });
      const patches = f.spec?.configPatches as { match: { context: string } }[];
      expect(patches.every((p) => p.match.context === 'GATEWAY')).toBe(true);
    }
  });

  test('the ratelimit namespace admits only the gateway to the service and the service to Redis', () => {
    const rl = find(objs, 'AuthorizationPolicy', 'ratelimit');
    const redis = find(objs, 'AuthorizationPolicy', 'redis');
    expect(JSON.stringify(rl.spec)).toContain(
      'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
    );
    expect(JSON.stringify(redis.spec)).toContain('cluster.local/ns/ratelimit/sa/ratelimit');
    const services = objs.filter((o) => o.kind === 'Service');
    expect(services.every((s) => (s.spec as { type?: string }).type === undefined)).toBe(true);
    expect(find(objs, 'PeerAuthentication', 'default').spec).toEqual({ mtls: { mode: 'STRICT' } });
  });

  test('GIVEN the ratelimit namespace denies ingress by default THEN NetworkPolicies admit the gateway pods to the gRPC port and the ratelimit pods to Redis, and nothing else', () => {
    const peers = (name: string) =>
      (find(objs, 'NetworkPolicy', name).spec as { ingress?: unknown }).ingress;
    expect(peers('ratelimit')).toEqual([
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } },
            podSelector: { matchLabels: { istio: 'ingressgateway' } },
          },
        ],
        ports: [{ port: 8081, protocol: 'TCP' }],
      },
    ]);
    expect(peers('redis')).toEqual([
      {
        from: [{ podSelector: { matchLabels: { app: 'ratelimit' } } }],
        ports: [{ port: 6379, protocol: 'TCP' }],
      },
    ]);
    expect(find(objs, 'NetworkPolicy', 'default-deny-ingress').metadata.namespace).toBe(
      'ratelimit',
    );
  });

  test('snapshot of the gateway security objects', () => {
    const security = objs.filter((o) =>
      [
        'Gateway',
        'VirtualService',
        'RequestAuthentication',
        'AuthorizationPolicy',
        'EnvoyFilter',
      ].includes(o.kind),
    );
    expect(security).toMatchSnapshot();
  });

  test('snapshot of the ratelimit config', () => {
    expect(find(objs, 'ConfigMap', 'ratelimit-config').data).toMatchSnapshot();
  });
});
