import { callGraph, type CallGraphObject } from '../../contract/egress.js';

const deploy = (namespace: string, app: string, sa = app): CallGraphObject => ({
  kind: 'Deployment',
  metadata: { name: app, namespace },
  spec: { template: { metadata: { labels: { app } }, spec: { serviceAccountName: sa } } },
});
const service = (namespace: string, app: string): CallGraphObject => ({
  kind: 'Service',
  metadata: { name: app, namespace },
  spec: { selector: { app }, ports: [{ port: 8080 }] },
});
const policy = (
  namespace: string,
  app: string,
  spec: Record<string, unknown>,
): CallGraphObject => ({
  kind: 'AuthorizationPolicy',
  metadata: { name: app, namespace },
  spec: { selector: { matchLabels: { app } }, ...spec },
});
const from = (source: Record<string, unknown>) => ({ rules: [{ from: [{ source }] }] });
const pod = (namespace: string, app: string) => ({
  namespace,
  labels: { app },
  serviceAccountName: app,
});

const base = [
  deploy('shop', 'api'),
  service('shop', 'api'),
  deploy('shop', 'web'),
  deploy('ops', 'cron'),
];

describe('the call graph (contract/egress.ts)', () => {
  it.each([
    ['an exact principal', { principals: ['cluster.local/ns/shop/sa/web'] }, ['shop/web']],
    ['a prefix principal', { principals: ['cluster.local/ns/ops/*'] }, ['ops/cron']],
    ['a namespace', { namespaces: ['shop'] }, ['shop/web', 'shop/api']],
    ['a service account', { serviceAccounts: ['ops/cron'] }, ['ops/cron']],
    ['request principals only (no identity named)', { requestPrincipals: ['*'] }, []],
  ])(
    'GIVEN an ALLOW rule naming %s THEN exactly those pods call the Service',
    (_, source, callers) => {
      const graph = callGraph([...base, policy('shop', 'api', from(source))]);
      for (const [ns, app] of [
        ['shop', 'web'],
        ['ops', 'cron'],
        ['shop', 'api'],
      ]) {
        expect(graph.calleesOf(pod(ns, app))).toEqual(
          (callers as readonly string[]).includes(`${ns}/${app}`)
            ? ['shop/api.shop.svc.cluster.local']
            : [],
        );
      }
    },
  );

  it('GIVEN a DENY policy, a rule without from, or a policy on pods no Service fronts THEN no call', () => {
    const web = pod('shop', 'web');
    const names = { principals: ['cluster.local/ns/shop/sa/web'] };
    expect(
      callGraph([...base, policy('shop', 'api', { action: 'DENY', ...from(names) })]).calleesOf(
        web,
      ),
    ).toEqual([]);
    expect(callGraph([...base, policy('shop', 'api', { rules: [{}] })]).calleesOf(web)).toEqual([]);
    expect(callGraph([...base, policy('shop', 'web', from(names))]).calleesOf(web)).toEqual([]);
  });

  it('GIVEN RequestAuthentications THEN the pods they apply to call their JWKS host: a cluster Service by its namespace, any other host in any namespace', () => {
    const ra = (namespace: string, jwksUri: string, selector?: string): CallGraphObject => ({
      kind: 'RequestAuthentication',
      metadata: { name: 'jwt', namespace },
      spec: {
        ...(selector ? { selector: { matchLabels: { app: selector } } } : {}),
        jwtRules: [{ issuer: 'x', jwksUri }],
      },
    });
    const graph = callGraph([
      ...base,
      service('auth', 'keycloak'),
      ra('shop', 'http://keycloak.auth.svc:8080/certs', 'web'),
      ra('istio-system', 'https://login.example.com/keys'),
    ]);
    expect(graph.calleesOf(pod('shop', 'web'))).toEqual([
      '*/login.example.com',
      'auth/keycloak.auth.svc.cluster.local',
    ]);
    expect(graph.calleesOf(pod('ops', 'cron'))).toEqual(['*/login.example.com']);
  });
});
