import { join } from 'node:path';
import {
  type Finding,
  lint,
  LINT_RULES,
  loadManifests,
  parseManifests,
} from '../../policies/engine/index.js';
import { INSTALLED_MESH, ISTIO_DEFAULT_MESH } from '../../policies/engine/mesh.js';
import { meshScopes } from '../support/realm-export.js';

const FIXTURES = join(process.cwd(), 'test/engine/fixtures');

const BASE = `apiVersion: apps/v1
kind: Deployment
metadata: { name: api, namespace: shop }
spec:
  template:
    metadata: { labels: { app: api } }
    spec:
      serviceAccountName: api
      containers: [{ name: api, image: api, ports: [{ containerPort: 8080, name: http }, { containerPort: 5432, name: db }] }]
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec:
  selector: { app: api }
  ports:
    - { name: http, port: 80, targetPort: 8080, appProtocol: http }
    - { name: tcp-db, port: 5432, targetPort: 5432, appProtocol: tcp }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
---
`;

function policy(spec: string, ns = 'shop', name = 'p'): string {
  return `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}\n---\n`;
}
const sel = '  selector: { matchLabels: { app: api } }\n';

function findings(yaml: string): Finding[] {
  return lint({ objects: parseManifests(BASE + yaml, 'lint.yaml') });
}

/** A small Keycloak realm as dist/ carries it: a ConfigMap annotated with its issuer. */
const KC_ISSUER = 'https://kc.example.com/realms/demo';
const REALM_JSON = {
  realm: 'demo',
  roles: { realm: [{ name: 'USER' }, { name: 'ADMIN' }] },
  clientScopes: [...meshScopes('aud'), { name: 'read' }],
  clients: [
    {
      clientId: 'web',
      publicClient: true,
      defaultClientScopes: ['basic', 'roles', 'aud'],
      optionalClientScopes: ['read'],
    },
    {
      clientId: 'job',
      publicClient: false,
      standardFlowEnabled: false,
      serviceAccountsEnabled: true,
      defaultClientScopes: ['basic', 'roles', 'aud'],
    },
  ],
  users: [
    { username: 'u', realmRoles: ['USER'] },
    { username: 'service-account-job', serviceAccountClientId: 'job', realmRoles: ['ADMIN'] },
  ],
  scopeMappings: [],
};
function realmYaml(json: object = REALM_JSON, audiences = '[api]'): string {
  return `apiVersion: v1
kind: ConfigMap
metadata: { name: kc-realm, namespace: auth, annotations: { meshward.io/issuer: '${KC_ISSUER}' } }
data:
  demo.json: '${JSON.stringify(json)}'
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: shop }
spec: { jwtRules: [{ issuer: '${KC_ISSUER}', audiences: ${audiences} }] }
---
`;
}
/** An ALLOW rule for the realm's tokens with `when` conditions. */
const tokenRule = (when: string) =>
  policy(
    `${sel}  rules: [{ from: [{ source: { requestPrincipals: ['${KC_ISSUER}/*'] } }], when: [${when}] }]`,
  );

const CASES: [string, string][] = [
  [
    'MW001',
    `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: jwt, namespace: shop }\nspec: { jwtRules: [{ issuer: https://i }] }\n---\n`,
  ],
  [
    'MW002',
    `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: api, namespace: shop }\nspec: { selector: { matchLabels: { app: api } }, mtls: { mode: PERMISSIVE } }\n---\n` +
      policy(`${sel}  action: DENY\n  rules: [{ from: [{ source: { namespaces: [evil] } }] }]`),
  ],
  [
    'MW003',
    policy(
      `${sel}  rules: [{ from: [{ source: { principals: ['spiffe://cluster.local/ns/a/sa/b'] } }] }]`,
    ),
  ],
  ['MW004', policy(`${sel}  rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }]`)],
  [
    'MW005',
    policy(
      `${sel}  rules: [{ to: [{ operation: { hosts: [api.shop.svc.cluster.local], ports: ['8080'] } }] }]`,
    ),
  ],
  [
    'MW006',
    policy(`${sel}  action: DENY\n  rules: [{ to: [{ operation: { methods: [DELETE] } }] }]`),
  ],
  ['MW007', policy(`  selector: { matchLabels: { istio: ingressgateway } }\n  rules: [{}]`)],
  ['MW008', policy(`  selector: { matchLabels: { app: nope } }\n  rules: [{}]`)],
  ['MW009', policy('  {}', 'istio-system', 'deny-all')],
  ['MW010', policy(`${sel}  rules: [{ to: [{ operation: { paths: ['/a//b'] } }] }]`)],
  ['MW011', policy(`${sel}  rules: [{ to: [{ operation: { methods: [get] } }] }]`)],
  [
    'MW012',
    `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: second, namespace: shop }\nspec: { mtls: { mode: STRICT } }\n---\n`,
  ],
  [
    'MW013',
    policy(
      `  selector: { matchLabels: { istio: ingressgateway } }\n  rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'] } }] }]`,
      'istio-system',
    ),
  ],
  [
    'MW014',
    policy(`${sel}  rules: [{ when: [{ key: 'request.auth.claims[scp]', values: [read] }] }]`),
  ],
  [
    'MW015',
    `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: jwt, namespace: shop }\nspec: { jwtRules: [{ issuer: https://i, jwksUri: 'http://api.shop.svc.cluster.local:80/certs' }] }\n---\n` +
      policy(`${sel}  rules: [{ from: [{ source: { requestPrincipals: ['https://i/*'] } }] }]`),
  ],
  [
    'MW016',
    policy(
      `${sel}  rules: [{ to: [{ operation: { hosts: [api.github.com, 'api.github.com:*'] } }] }]`,
    ),
  ],
  [
    'MW017',
    policy(
      `${sel}  rules:\n    - to: [{ operation: { methods: [GET], paths: ['/api/*'] } }]\n    - from: [{ source: { requestPrincipals: ['https://i/*'] } }]\n      to: [{ operation: { methods: [GET], paths: ['/api/admin/x'] } }]\n      when: [{ key: 'request.auth.claims[realm_access][roles]', values: [ADMIN] }]`,
    ),
  ],
  [
    'MW018',
    ['api', 'web']
      .map(
        (app) =>
          `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: ${app}, namespace: shop }\nspec: { template: { metadata: { labels: { app: ${app} } }, spec: { serviceAccountName: ${app}, containers: [{ name: c, image: x }] } } }\n---\n`,
      )
      .join('') +
      `apiVersion: v1\nkind: Service\nmetadata: { name: api, namespace: shop }\nspec: { selector: { app: api }, ports: [{ name: http, port: 8080 }] }\n---\n` +
      policy(
        `${sel}  rules: [{ from: [{ source: { principals: [cluster.local/ns/shop/sa/web] } }] }]`,
      ) +
      `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: web, namespace: shop }\nspec: { workloadSelector: { labels: { app: web } }, egress: [{ hosts: [istio-system/*] }] }\n---\n`,
  ],
  ['MW101', policy(`${sel}  rules: [{ from: [] }]`)],
  ['MW102', policy(`${sel}  rules: [{ when: [{ key: request.bogus, values: [x] }] }]`)],
  ['MW103', policy(`${sel}  rules: [{ to: [{ operation: { paths: ['/a/{**}/b/{*}'] } }] }]`)],
  ['MW104', policy(`${sel}  action: DENY`)],
  ['MW105', policy(`${sel}  targetRefs: [{ kind: Service, name: api }]\n  rules: [{}]`)],
  ['MW106', policy(`${sel}  rules: [{ from: [{ source: { serviceAccounts: ['shop/*'] } }] }]`)],
  [
    'MW107',
    policy(
      `${sel}  action: CUSTOM\n  provider: { name: ext }\n  rules: [{ from: [{ source: { requestPrincipals: ['a/b'] } }] }]`,
    ),
  ],
  ['MW108', policy(`${sel}  rules: [{ from: [{ source: { ipBlocks: ['10.0.0.300'] } }] }]`)],
  [
    'MW109',
    `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: api, namespace: shop }\nspec: { selector: { matchLabels: { app: api } }, mtls: { mode: STRCT } }\n---\n`,
  ],
  ['MW110', policy(`${sel}  rules: [{ to: [{ operation: { methods: GET } }] }]`)],
  ['MW201', realmYaml() + tokenRule(`{ key: 'request.auth.claims[groups]', values: [admins] }`)],
  [
    'MW202',
    realmYaml() +
      tokenRule(`{ key: 'request.auth.claims[realm_access][roles]', values: [AUDITOR] }`),
  ],
  ['MW203', realmYaml() + tokenRule(`{ key: 'request.auth.claims[scope]', values: [write] }`)],
  [
    'MW204',
    realmYaml(REALM_JSON, '[other-api]') +
      tokenRule(`{ key: 'request.auth.claims[realm_access][roles]', values: [USER] }`),
  ],
  ['MW205', realmYaml() + tokenRule(`{ key: request.auth.presenter, values: [billing] }`)],
  [
    'MW206',
    realmYaml({
      ...REALM_JSON,
      clients: REALM_JSON.clients.map((c) => ({ ...c, defaultClientScopes: ['roles', 'aud'] })),
    }) + tokenRule(`{ key: 'request.auth.claims[realm_access][roles]', values: [USER] }`),
  ],
  ['MW207', realmYaml() + tokenRule(`{ key: 'request.auth.claims[scope]', values: [read] }`)],
  [
    'MW208',
    realmYaml() + tokenRule(`{ key: 'request.auth.claims[realm_access][roles]', values: [USER] }`),
  ],
];

describe('lint', () => {
  it('has a rule description for every code it tests', () => {
    expect(CASES.map(([c]) => c).sort()).toEqual(Object.keys(LINT_RULES).sort());
  });

  it('finds nothing in the clean base', () => {
    expect(
      findings(
        policy(
          `${sel}  rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/web'] } }], to: [{ operation: { ports: ['8080'] } }] }]`,
        ),
      ),
    ).toEqual([]);
  });

  it.each(CASES)('%s triggers on its minimal fixture', (code, yaml) => {
    const f = findings(yaml).filter((x) => x.code === code);
    expect(f.length).toBeGreaterThan(0);
    for (const x of f) {
      expect(x.object).toMatch(/^\w+ [\w-]+\/[\w-]+$/);
      expect(x.message.length).toBeGreaterThan(0);
      expect(x.fix.length).toBeGreaterThan(0);
    }
  });

  it.each(CASES)('%s does not trigger on the clean shop fixture', (code) => {
    expect(
      lint(loadManifests([join(FIXTURES, 'shop.yaml')])).filter(
        (x) => x.code === code && x.severity !== 'info',
      ),
    ).toEqual([]);
  });

  describe('MW017: a wider rule with fewer token conditions (red-team M3)', () => {
    const strict = `    - from: [{ source: { requestPrincipals: ['https://i/*'] } }]\n      to: [{ operation: { methods: [GET], paths: ['/api/admin/x'] } }]\n      when: [{ key: 'request.auth.claims[realm_access][roles]', values: [ADMIN] }]`;
    const mw017 = (weak: string) =>
      findings(policy(`${sel}  rules:\n${weak}\n${strict}`))
        .filter((f) => f.code === 'MW017')
        .map((f) => f.message);

    it('names both rules', () => {
      expect(mw017(`    - to: [{ operation: { methods: [GET], paths: ['/api/*'] } }]`)).toEqual([
        'rule 1 (GET /api/admin/x) asks for a token (request.auth.claims[realm_access][roles]=["ADMIN"]![]), but rule 0 (GET /api/*) admits the same requests with less: ALLOW rules are ORed, so on the overlap the stricter rule does not hold',
      ]);
    });

    it.each([
      ['other paths', `    - to: [{ operation: { methods: [GET], paths: ['/api/public/*'] } }]`],
      ['other methods', `    - to: [{ operation: { methods: [POST], paths: ['/api/*'] } }]`],
      [
        'a condition of its own (a CORS preflight)',
        `    - to: [{ operation: { methods: [GET], paths: ['/api/*'] } }]\n      when: [{ key: 'request.headers[origin]', values: ['https://a.example'] }]`,
      ],
      [
        'the same token conditions',
        `    - from: [{ source: { requestPrincipals: ['https://i/*'] } }]\n      to: [{ operation: { methods: [GET], paths: ['/api/*'] } }]\n      when: [{ key: 'request.auth.claims[realm_access][roles]', values: [ADMIN] }]`,
      ],
      [
        'other callers',
        `    - from: [{ source: { principals: ['cluster.local/ns/a/sa/b'] } }]\n      to: [{ operation: { methods: [GET], paths: ['/api/*'] } }]`,
      ],
    ])('does not trigger for a wider rule with %s', (_what, weak) => {
      const withCaller = weak.includes('principals')
        ? policy(
            `${sel}  rules:\n${weak}\n    - from: [{ source: { principals: ['cluster.local/ns/c/sa/d'], requestPrincipals: ['https://i/*'] } }]\n      to: [{ operation: { methods: [GET], paths: ['/api/admin/x'] } }]\n      when: [{ key: 'request.auth.claims[realm_access][roles]', values: [ADMIN] }]`,
          )
        : undefined;
      const found = withCaller
        ? findings(withCaller).filter((f) => f.code === 'MW017')
        : mw017(weak);
      expect(found).toEqual([]);
    });
  });

  describe('the realm ↔ policy contract (MW2xx)', () => {
    const messages = (yaml: string, code: string) =>
      findings(yaml)
        .filter((f) => f.code === code)
        .map((f) => `${f.severity} ${f.object}: ${f.message}`);

    it('names the rule, the claim and the realm', () => {
      expect(messages(CASES.find(([c]) => c === 'MW202')?.[1] ?? '', 'MW202')).toEqual([
        "error AuthorizationPolicy shop/p: rule 0 requires role 'AUDITOR', which realm 'demo' does not define (roles: USER, ADMIN)",
      ]);
      expect(messages(CASES.find(([c]) => c === 'MW201')?.[1] ?? '', 'MW201')).toEqual([
        "error AuthorizationPolicy shop/p: rule 0 checks claim 'groups', which no mapper of realm 'demo' puts into access tokens (its roles are in 'realm_access.roles')",
      ]);
    });

    it('GIVEN a scope alone on a route THEN it is an error while any user can obtain it, and not once it is granted to a role', () => {
      const rule = tokenRule(`{ key: 'request.auth.claims[scope]', values: [read] }`);
      const granted = { ...REALM_JSON, scopeMappings: [{ clientScope: 'read', roles: ['ADMIN'] }] };

      expect(messages(realmYaml() + rule, 'MW207')).toEqual([
        "error AuthorizationPolicy shop/p: scope 'read' guards every request but any user of public client 'web' can obtain it: grant it to roles, or require a role on the route",
      ]);
      expect(messages(realmYaml(granted) + rule, 'MW207')).toEqual([]);
    });

    it('warns about what a client can obtain that no policy checks', () => {
      expect(messages(CASES.find(([c]) => c === 'MW208')?.[1] ?? '', 'MW208')).toEqual([
        "warning ConfigMap auth/kc-realm: client 'web' of realm 'demo' can obtain scope 'read', which no policy checks",
        "warning ConfigMap auth/kc-realm: the service account of client 'job' of realm 'demo' holds role 'ADMIN', which no policy checks",
      ]);
    });

    it('GIVEN no realm in the manifests THEN no MW2xx finding', () => {
      const yaml = tokenRule(`{ key: 'request.auth.claims[groups]', values: [admins] }`);
      expect(findings(yaml).filter((f) => f.code.startsWith('MW2'))).toEqual([]);
    });
  });

  describe('MW001 and the meshward.io/routes intent', () => {
    const RA = `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: jwt, namespace: shop }\nspec: { jwtRules: [{ issuer: https://i }] }\n---\n`;
    const ALLOW_GATEWAY = policy(
      `${sel}  rules: [{ from: [{ source: { principals: ['cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account'] } }], to: [{ operation: { methods: [GET] } }] }]`,
    );
    /** BASE's Deployment `api` with a meshward.io/routes annotation. */
    const annotated = (routes: string) =>
      BASE.replace(
        'metadata: { name: api, namespace: shop }\nspec:\n  template:',
        `metadata: { name: api, namespace: shop, annotations: { meshward.io/routes: '${routes}' } }\nspec:\n  template:`,
      );
    const mw001 = (base: string) =>
      lint({ objects: parseManifests(base + RA + ALLOW_GATEWAY, 'lint.yaml') })
        .filter((f) => f.code === 'MW001')
        .map((f) => `${f.severity}: ${f.message}`);

    it('GIVEN every declared route public THEN tokenless access is reported as info, by intent', () => {
      const routes = '{"v":1,"routes":[{"methods":["GET"],"paths":["/"],"public":true}]}';
      expect(annotated(routes)).not.toEqual(BASE);
      expect(mw001(annotated(routes))).toEqual([
        'info: tokenless requests pass on [api], public by their meshward.io/routes intent',
      ]);
    });

    it('GIVEN the all-public intent on the Service only THEN it is read there, as the matrix does', () => {
      const routes = '{"v":1,"routes":[{"methods":["GET"],"paths":["/"],"public":true}]}';
      const serviceAnnotated = BASE.replace(
        'kind: Service\nmetadata: { name: api, namespace: shop }',
        `kind: Service\nmetadata: { name: api, namespace: shop, annotations: { meshward.io/routes: '${routes}' } }`,
      );
      expect(serviceAnnotated).not.toEqual(BASE);
      expect(mw001(serviceAnnotated)).toEqual([
        'info: tokenless requests pass on [api], public by their meshward.io/routes intent',
      ]);
    });

    it('GIVEN one route that needs a token THEN it stays a warning', () => {
      const routes =
        '[{"methods":["GET"],"paths":["/"],"public":true},{"methods":["GET"],"paths":["/me"],"public":false,"roles":["USER"]}]';
      expect(mw001(annotated(routes))).toEqual(['warning: tokenless requests pass on [api]']);
    });

    it('GIVEN no annotation, an empty list or a malformed one THEN it stays a warning', () => {
      for (const base of [BASE, annotated('[]'), annotated('{not json')]) {
        expect(mw001(base)).toEqual(['warning: tokenless requests pass on [api]']);
      }
    });
  });

  it('reports invalid policies as errors', () => {
    for (const code of [
      'MW101',
      'MW102',
      'MW103',
      'MW104',
      'MW105',
      'MW106',
      'MW107',
      'MW108',
      'MW109',
    ]) {
      const yaml = CASES.find(([c]) => c === code)?.[1] ?? '';
      expect(
        findings(yaml)
          .filter((x) => x.code === code)
          .map((x) => x.severity),
      ).toContain('error');
    }
  });

  it('reports a DENY on /admin/* as missing the bare /admin', () => {
    const f = findings(
      policy(
        `${sel}  action: DENY\n  rules: [{ to: [{ operation: { paths: ['/admin/*'], ports: ['8080'] } }] }]`,
      ),
    );
    expect(f).toContainEqual(expect.objectContaining({ code: 'MW010', severity: 'warning' }));
  });

  it('does not report /admin/* when the bare /admin is listed beside it', () => {
    const f = findings(
      policy(
        `${sel}  action: DENY\n  rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'], ports: ['8080'] } }] }]`,
      ),
    );
    expect(f.filter((x) => x.code === 'MW010')).toEqual([]);
  });

  it('keeps notPaths on a DENY at info (missing the bare path only denies more)', () => {
    const f = findings(
      policy(
        `${sel}  action: DENY\n  rules: [{ to: [{ operation: { notPaths: ['/public/*'], ports: ['8080'] } }] }]`,
      ),
    );
    expect(f.filter((x) => x.code === 'MW010').map((x) => x.severity)).toEqual(['info']);
  });

  describe('MW015: a JWKS the mesh cannot fetch', () => {
    const ra = `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: jwt, namespace: shop }\nspec: { jwtRules: [{ issuer: https://i, jwksUri: 'http://api.shop.svc.cluster.local:80/certs' }] }\n---\n`;
    const certsFrom = (principal: string) =>
      policy(
        `${sel}  rules: [{ from: [{ source: { principals: ['${principal}'] } }], to: [{ operation: { methods: [GET], paths: [/certs] } }] }]`,
      );
    const mw015 = (yaml: string, mesh = INSTALLED_MESH) =>
      lint({ objects: parseManifests(BASE + yaml, 'lint.yaml') }, { mesh }).filter(
        (x) => x.code === 'MW015',
      );

    it('GIVEN istiod fetches (Istio default) WHEN the JWKS port is PERMISSIVE by portLevelMtls THEN nothing is flagged', () => {
      const pa = `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: api, namespace: shop }\nspec: { selector: { matchLabels: { app: api } }, mtls: { mode: STRICT }, portLevelMtls: { '8080': { mode: PERMISSIVE } } }\n---\n`;
      expect(mw015(ra + pa, ISTIO_DEFAULT_MESH)).toEqual([]);
    });

    it('GIVEN istiod fetches WHEN the JWKS port is STRICT THEN it is an error whose fix names PILOT_JWT_ENABLE_REMOTE_JWKS=envoy', () => {
      expect(mw015(ra + certsFrom('cluster.local/ns/shop/sa/api'), ISTIO_DEFAULT_MESH)).toEqual([
        expect.objectContaining({
          severity: 'error',
          message: expect.stringContaining('istiod cannot fetch it'),
          fix: expect.stringContaining('PILOT_JWT_ENABLE_REMOTE_JWKS=envoy'),
        }),
      ]);
    });

    it('GIVEN the proxies fetch (the installed mesh) WHEN the JWKS path admits the verifying workload over mTLS THEN nothing is flagged, STRICT or not', () => {
      expect(mw015(ra + certsFrom('cluster.local/ns/shop/sa/api'))).toEqual([]);
    });

    it('GIVEN the proxies fetch WHEN the JWKS path admits only another identity THEN it is an error naming the refused proxy and its principal', () => {
      expect(mw015(ra + certsFrom('cluster.local/ns/shop/sa/other'))).toEqual([
        expect.objectContaining({
          severity: 'error',
          object: 'RequestAuthentication shop/jwt',
          message: expect.stringMatching(/refused for \[api: deny .*every token there gets 401/),
          fix: 'allow GET /certs on port 8080 of api from [cluster.local/ns/shop/sa/api]',
        }),
      ]);
    });
  });
});
