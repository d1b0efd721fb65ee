import { join } from 'node:path';
import {
  type Finding,
  lint,
  LINT_RULES,
  loadManifests,
  parseManifests,
} from '../../policies/engine/index.js';

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
      const routes = '[{"methods":["GET"],"paths":["/"],"public":true}]';
      expect(annotated(routes)).not.toEqual(BASE);
      expect(mw001(annotated(routes))).toEqual([
        'info: tokenless requests pass on [api], public by their meshward.io/routes intent',
      ]);
    });

    it('GIVEN the all-public intent on the Service only THEN it is read there, as the matrix does', () => {
      const routes = '[{"methods":["GET"],"paths":["/"],"public":true}]';
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

  it('does not flag a JWKS port that is PERMISSIVE by portLevelMtls', () => {
    const pa = `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: api, namespace: shop }\nspec: { selector: { matchLabels: { app: api } }, mtls: { mode: STRICT }, portLevelMtls: { '8080': { mode: PERMISSIVE } } }\n---\n`;
    const yaml = (CASES.find(([c]) => c === 'MW015')?.[1] ?? '') + pa;
    expect(findings(yaml).filter((x) => x.code === 'MW015')).toEqual([]);
  });
});
