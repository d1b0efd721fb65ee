import { Testing } from 'cdk8s';

import { hardenedPodSpec, JwtIssuer, MeshIdentity, MeshService } from '../../charts/lib/index.js';

const ISSUER = 'https://auth.example.com/realms/shop';

function setup() {
  const chart = Testing.chart();
  const issuer = new JwtIssuer(chart, 'kc', {
    issuer: ISSUER,
    jwksUri:
      'http://keycloak.auth.svc.cluster.local:8080/realms/shop/protocol/openid-connect/certs',
    audiences: ['shop-api'],
  });
  const orders = new MeshService(chart, 'orders', {
    namespace: 'shop',
    image: 'orders:1',
    issuer,
    exposed: true,
  });
  const payments = new MeshService(chart, 'payments', {
    namespace: 'shop',
    image: 'payments:1',
    issuer,
  });
  return { chart, issuer, orders, payments };
}
/** Gives payments the route every synth needs (a service without routes fails validation). */
function setupWithPayments() {
  const parts = setup();
  parts.payments.allowFrom(parts.orders, {
    methods: ['GET'],
    paths: ['/api/payments/{id}'],
    roles: ['USER'],
  });
  return parts;
}
const byKind = (objects: any[], kind: string, name?: string) =>
  objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

describe('MeshService', () => {
  test('runs as its own hardened identity with stable labels', () => {
    // GIVEN
    const { chart, orders } = setupWithPayments();
    orders.addRoute({ methods: ['GET'], paths: ['/api/public/*'], public: true });
    // WHEN
    const objects = Testing.synth(chart);
    // THEN
    const sa = byKind(objects, 'ServiceAccount', 'orders');
    expect(sa.automountServiceAccountToken).toBe(false);
    const deployment = byKind(objects, 'Deployment', 'orders');
    const pod = deployment.spec.template.spec;
    expect(deployment.spec.selector.matchLabels).toEqual({ app: 'orders' });
    expect(deployment.spec.template.metadata.labels).toEqual({ app: 'orders', version: 'v1' });
    expect(pod.serviceAccountName).toBe('orders');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const [container] = pod.containers;
    expect(container.imagePullPolicy).toBe('IfNotPresent');
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.resources.requests).toEqual({ cpu: '50m', memory: '64Mi' });
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(container.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    const service = byKind(objects, 'Service', 'orders');
    expect(service.spec.ports).toEqual([
      { name: 'http', port: 8080, targetPort: 'http', appProtocol: 'http', protocol: 'TCP' },
    ]);
    expect(byKind(objects, 'PodDisruptionBudget', 'orders').spec.maxUnavailable).toBe(1);
  });

  test('allowFrom compiles callers, token issuer and claims into one ALLOW rule', () => {
    // GIVEN
    const { chart, orders, payments } = setup();
    orders.addRoute({ methods: ['GET'], paths: ['/api/public/*'], public: true });
    // WHEN
    const route = payments.allowFrom(orders, {
      methods: ['POST'],
      paths: ['/api/payments'],
      roles: ['USER'],
    });
    // THEN
    expect(route.callers.map((c) => c.principal)).toEqual(['cluster.local/ns/shop/sa/orders']);
    const policy = byKind(Testing.synth(chart), 'AuthorizationPolicy', 'payments');
    expect(policy.spec).toEqual({
      action: 'ALLOW',
      selector: { matchLabels: { app: 'payments' } },
      rules: [
        {
          from: [
            {
              source: {
                principals: ['cluster.local/ns/shop/sa/orders'],
                requestPrincipals: [`${ISSUER}/*`],
              },
            },
          ],
          to: [{ operation: { methods: ['POST'], paths: ['/api/payments'] } }],
          when: [{ key: 'request.auth.claims[realm_access][roles]', values: ['USER'] }],
        },
      ],
    });
  });

  test('an exposed service admits the ingress gateway on every route; public routes need no token', () => {
    const { chart, orders } = setupWithPayments();
    orders.addRoute({ methods: ['GET'], paths: ['/api/public/*'], public: true });
    orders.addRoute({ methods: ['GET'], paths: ['/api/orders/admin/all'], scopes: ['admin:read'] });
    const policy = byKind(Testing.synth(chart), 'AuthorizationPolicy', 'orders');
    const gateway = MeshIdentity.ingressGateway().principal;
    expect(policy.spec.rules[0].from).toEqual([{ source: { principals: [gateway] } }]);
    expect(policy.spec.rules[1].from).toEqual([
      { source: { principals: [gateway], requestPrincipals: [`${ISSUER}/*`] } },
    ]);
    expect(policy.spec.rules[1].when).toEqual([
      { key: 'request.auth.claims[scope]', values: ['admin:read'] },
    ]);
  });

  test('the NetworkPolicy admits only the callers on the service port', () => {
    const { chart, orders, payments } = setup();
    orders.addRoute({ methods: ['GET'], paths: ['/api/public/*'], public: true });
    payments.allowFrom(orders, { methods: ['POST'], paths: ['/api/payments'], roles: ['USER'] });
    const objects = Testing.synth(chart);
    expect(byKind(objects, 'NetworkPolicy', 'payments').spec.ingress).toEqual([
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
            podSelector: { matchLabels: { app: 'orders' } },
          },
        ],
        ports: [{ port: 8080, protocol: 'TCP' }],
      },
    ]);
    expect(byKind(objects, 'NetworkPolicy', 'orders').spec.ingress[0].from[0].podSelector).toEqual({
      matchLabels: { istio: 'ingressgateway' },
    });
  });

  test('the routes annotation (version 1) carries the intent on the pod template and the Service', () => {
    const { chart, orders } = setupWithPayments();
    orders.addRoute({
      methods: ['GET', 'DELETE'],
      paths: ['/api/orders/{id}'],
      roles: ['USER', 'ADMIN'],
    });
    const objects = Testing.synth(chart);
    const service = byKind(objects, 'Service', 'orders');
    const deployment = byKind(objects, 'Deployment', 'orders');
    const text = service.metadata.annotations['meshward.io/routes'];

    expect(JSON.parse(text)).toEqual({
      v: 1,
      routes: [
        {
          methods: ['GET', 'DELETE'],
          paths: ['/api/orders/{*}'],
          principals: [MeshIdentity.ingressGateway().principal],
          public: false,
          issuer: ISSUER,
          audiences: ['shop-api'],
          when: [{ key: 'request.auth.claims[realm_access][roles]', values: ['USER', 'ADMIN'] }],
        },
      ],
    });
    expect(deployment.spec.template.metadata.annotations['meshward.io/routes']).toBe(text);
    expect(deployment.metadata.annotations).toBeUndefined();
  });

  test('GIVEN an issuer WHEN synthesized THEN the container gets its route intent (downward API) and the roles claim', () => {
    const { chart, orders } = setupWithPayments();
    orders.addRoute({ paths: ['/api/orders'], roles: ['USER'] });
    const deployment = byKind(Testing.synth(chart), 'Deployment', 'payments');
    const env = deployment.spec.template.spec.containers[0].env;

    expect(env).toContainEqual({
      name: 'MESHWARD_ROUTES',
      valueFrom: { fieldRef: { fieldPath: "metadata.annotations['meshward.io/routes']" } },
    });
    expect(env).toContainEqual({ name: 'JWT_ROLES_CLAIM', value: 'realm_access.roles' });
  });

  test('GIVEN an issuer whose roles are a space-delimited top-level claim WHEN a route needs a role THEN the rule, the RequestAuthentication and the env use that claim', () => {
    const chart = Testing.chart();
    const issuer = new JwtIssuer(chart, 'okta', {
      issuer: 'https://example.okta.com',
      jwksUri: 'https://example.okta.com/keys',
      audiences: ['api'],
      rolesClaim: ['groups'],
      rolesClaimFormat: 'space-delimited',
    });
    issuer.bindTo('shop');
    const svc = new MeshService(chart, 'api', {
      namespace: 'shop',
      image: 'api:1',
      issuer,
      exposed: true,
    });
    svc.addRoute({ paths: ['/admin/*'], roles: ['admins'] });
    const objects = Testing.synth(chart);
    const policy = byKind(objects, 'AuthorizationPolicy', 'api');
    const ra = byKind(objects, 'RequestAuthentication');
    const env = byKind(objects, 'Deployment', 'api').spec.template.spec.containers[0].env;

    expect(policy.spec.rules[0].when).toEqual([
      { key: 'request.auth.claims[groups]', values: ['admins'] },
    ]);
    expect(ra.spec.jwtRules[0].spaceDelimitedClaims).toEqual(['groups']);
    expect(env).toEqual(
      expect.arrayContaining([
        { name: 'JWT_ROLES_CLAIM', value: 'groups' },
        { name: 'JWT_ROLES_CLAIM_FORMAT', value: 'space-delimited' },
      ]),
    );
  });

  test('GIVEN an Auth0-style namespaced roles claim THEN the condition keeps the dotted name whole', () => {
    const chart = Testing.chart();
    const issuer = new JwtIssuer(chart, 'auth0', {
      issuer: 'https://tenant.eu.auth0.com/',
      jwksUri: 'https://tenant.eu.auth0.com/.well-known/jwks.json',
      audiences: ['https://api.shop.example.com'],
      rolesClaim: ['https://shop.example.com/roles'],
    });
    const svc = new MeshService(chart, 'api', {
      namespace: 'shop',
      image: 'api:1',
      issuer,
      exposed: true,
    });
    svc.addRoute({ paths: ['/admin/*'], roles: ['admin'] });
    const objects = Testing.synth(chart);

    expect(byKind(objects, 'AuthorizationPolicy', 'api').spec.rules[0].when).toEqual([
      { key: 'request.auth.claims[https://shop.example.com/roles]', values: ['admin'] },
    ]);
    expect(
      byKind(objects, 'Deployment', 'api').spec.template.spec.containers[0].env,
    ).toContainEqual({ name: 'JWT_ROLES_CLAIM', value: '["https://shop.example.com/roles"]' });
  });

  test('GIVEN intentEnv: false THEN the container gets no intent variables', () => {
    const chart = Testing.chart();
    const svc = new MeshService(chart, 'web', {
      namespace: 'shop',
      image: 'web:1',
      exposed: true,
      intentEnv: false,
    });
    svc.addRoute({ paths: ['/'], public: true });
    const env = byKind(Testing.synth(chart), 'Deployment', 'web').spec.template.spec.containers[0]
      .env;

    expect(env.map((e: { name: string }) => e.name)).toEqual(['PORT']);
  });

  test('GIVEN Secret keys with file: true WHEN synthesized THEN each Secret is one read-only volume of exactly those keys and each variable holds its file path, never a secretKeyRef (red-team L8)', () => {
    const chart = Testing.chart();
    const svc = new MeshService(chart, 'api', {
      namespace: 'shop',
      image: 'api:1',
      exposed: true,
      env: {
        CLIENT_SECRET_FILE: { secretName: 'api-oauth', key: 'client-secret', file: true },
        SIGNING_KEY_FILE: { secretName: 'api-oauth', key: 'signing-key', file: true },
        DB_PASSWORD: { secretName: 'api-db', key: 'password' },
      },
    });
    svc.addRoute({ paths: ['/'], public: true });
    const pod = Testing.synth(chart).find((o) => o.kind === 'Deployment').spec.template.spec;
    const container = pod.containers[0];
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      CLIENT_SECRET_FILE: '/var/run/secrets/meshward/api-oauth/client-secret',
      SIGNING_KEY_FILE: '/var/run/secrets/meshward/api-oauth/signing-key',
      DB_PASSWORD: { secretKeyRef: { name: 'api-db', key: 'password' } },
    });
    expect(pod.volumes).toContainEqual({
      name: 'secret-files-0',
      secret: {
        secretName: 'api-oauth',
        items: [
          { key: 'client-secret', path: 'client-secret' },
          { key: 'signing-key', path: 'signing-key' },
        ],
        defaultMode: 0o440,
      },
    });
    expect(pod.volumes.filter((v: any) => v.secret)).toHaveLength(1);
    expect(container.volumeMounts).toContainEqual({
      name: 'secret-files-0',
      mountPath: '/var/run/secrets/meshward/api-oauth',
      readOnly: true,
    });
  });

  describe('bad input', () => {
    // Red-team L11: each of these synthesized before, each wider than it looks.
    test.each([
      [{ roles: ['*'] }, "'roles' value '*' has a '*': Istio would read it as any value"],
      [{ roles: ['ADM*'] }, "'roles' value 'ADM*' has a '*': Istio would read it as a prefix"],
      [{ scopes: ['*'] }, "'scopes' value '*' has a '*': Istio would read it as any value"],
      [
        { clients: ['*-job'] },
        "'clients' value '*-job' has a '*': Istio would read it as a suffix",
      ],
      [{ scopes: ['admin read'] }, "'scopes' value 'admin read' contains white space"],
    ])('throws when a route names a wildcard or spaced claim value: %j', (access, message) => {
      const { orders } = setup();
      expect(() => orders.addRoute({ paths: ['/api/x'], ...access })).toThrow(message);
    });
    // Red-team M3: ALLOW rules are ORed, so an overlapping weaker route opens a stricter one.
    test('throws when a public sub-tree covers a route that needs a role, naming both routes', () => {
      const { orders } = setup();
      orders.addRoute({ methods: ['GET'], paths: ['/api/*'], public: true });
      expect(() =>
        orders.addRoute({ methods: ['GET'], paths: ['/api/admin/x'], roles: ['ADMIN'] }),
      ).toThrow(
        "MeshService 'orders' route GET /api/admin/x: conflicts with the route GET /api/*: GET '/api/admin/x' and '/api/*' overlap, and the routes ask for roles [ADMIN] and no token",
      );
    });
    test.each([
      [
        'a USER template over an ADMIN path',
        { paths: ['/api/orders/{id}'], roles: ['USER'] },
        { paths: ['/api/orders/special'], roles: ['ADMIN'] },
      ],
      [
        'a route for any method over a GET route with a scope',
        { paths: ['/api/reports/*'], roles: ['ADMIN'] },
        {
          methods: ['GET' as const],
          paths: ['/api/reports/all'],
          roles: ['ADMIN'],
          scopes: ['reports:read'],
        },
      ],
      [
        'an authenticated route over a client route',
        { paths: ['/api/jobs/{**}'], authenticated: true },
        { methods: ['POST' as const], paths: ['/api/jobs/run'], clients: ['nightly'] },
      ],
    ])('throws when %s overlap', (_what, first, second) => {
      const { orders } = setup();
      orders.addRoute(first);
      expect(() => orders.addRoute(second)).toThrow('overlap, and the routes ask for');
    });
    test('GIVEN overlapping routes for different callers, or with the same token rule, or on other methods THEN they are allowed', () => {
      const { orders, payments } = setup();
      payments.allowFrom(orders, { methods: ['POST'], paths: ['/api/pay/*'], roles: ['USER'] });
      const refunds = MeshIdentity.fromServiceAccount('shop', 'refunds');
      expect(() =>
        payments.allowFrom(refunds, {
          methods: ['POST'],
          paths: ['/api/pay/refund'],
          public: true,
        }),
      ).not.toThrow();
      orders.addRoute({ methods: ['GET'], paths: ['/api/a/*'], roles: ['USER'] });
      expect(() =>
        orders.addRoute({ methods: ['GET'], paths: ['/api/a/b'], roles: ['USER'] }),
      ).not.toThrow();
      expect(() =>
        orders.addRoute({ methods: ['POST'], paths: ['/api/a/c'], roles: ['ADMIN'] }),
      ).not.toThrow();
    });
    test('throws when a route path is /{**} (every path)', () => {
      const { orders } = setup();
      expect(() => orders.addRoute({ paths: ['/{**}'], public: true })).toThrow(
        "path '/{**}' matches every path, like '/*'; write the public paths explicitly",
      );
    });
    test('throws when a hand-made caller identity has a wildcard principal', () => {
      const { payments } = setup();
      const anyone = {
        identityName: 'anyone',
        namespace: 'shop',
        serviceAccountName: 'x',
        principal: '*',
      };
      expect(() => payments.allowFrom(anyone, { paths: ['/api/x'], roles: ['USER'] })).toThrow(
        "caller 'anyone' has principal '*', which is not one workload identity '<trust domain>/ns/<namespace>/sa/<service account>'",
      );
    });
    test.each(['CLIENT_SECRET', 'DB_PASSWORD', 'api_key', 'GITHUB_TOKEN', 'AWS_CREDENTIALS'])(
      'throws when env %s has a literal value, naming it but not the value (red-team L8)',
      (name) => {
        const chart = Testing.chart();
        const make = () =>
          new MeshService(chart, 'x', {
            namespace: 'shop',
            image: 'x:1',
            env: { [name]: 'hunter2' },
          });
        expect(make).toThrow(
          `container 'x': env '${name}' holds a credential: reference a Secret ({ secretName, key }), never a literal value`,
        );
        expect(make).not.toThrow('hunter2');
      },
    );
    test('accepts a Secret reference for a credential, and a literal for a name that only mentions one', () => {
      const spec = hardenedPodSpec('x', {
        name: 'x',
        image: 'x:1',
        userId: 10001,
        resources: {},
        env: { CLIENT_SECRET: { secretName: 's', key: 'k' }, TOKEN_URL: 'http://idp/token' },
      });
      expect(spec.containers[0]?.env).toEqual([
        { name: 'CLIENT_SECRET', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
        { name: 'TOKEN_URL', value: 'http://idp/token' },
      ]);
    });
    test.each([
      ['x', 'not untagged'],
      ['x:latest', 'not latest'],
    ])('throws when the image is %s (red-team L8)', (image, message) => {
      const chart = Testing.chart();
      expect(() => new MeshService(chart, 'x', { namespace: 'shop', image })).toThrow(
        `container 'x': 'image' ('${image}') must be pinned to a tag or digest, ${message}`,
      );
    });
    test('throws when env sets a variable the construct sets from the intent', () => {
      const chart = Testing.chart();
      expect(
        () =>
          new MeshService(chart, 'x', {
            namespace: 'shop',
            image: 'x:1',
            env: { MESHWARD_ROUTES: '[]' },
          }),
      ).toThrow(
        "MeshService 'x': env 'MESHWARD_ROUTES' is set by the construct (intentEnv); remove it or set 'intentEnv: false'",
      );
    });
    test.each([
      [{ rolesClaim: [] }, "'rolesClaim' ([]): a claim path needs at least one name"],
      [{ rolesClaim: ['a[0]'] }, "claim name 'a[0]' must be non-empty, without '[' or ']'"],
      [
        { rolesClaim: ['realm_access', 'roles'], rolesClaimFormat: 'space-delimited' as const },
        "a space-delimited 'rolesClaim' must be a top-level claim",
      ],
      [
        { rolesClaimFormat: 'csv' as never },
        "'rolesClaimFormat' ('csv') must be 'list' or 'space-delimited'",
      ],
    ])('throws when the issuer has a bad roles claim: %j', (extra, message) => {
      const chart = Testing.chart();
      expect(
        () =>
          new JwtIssuer(chart, 'kc', {
            issuer: ISSUER,
            jwksUri: 'https://auth.example.com/keys',
            audiences: ['api'],
            ...extra,
          }),
      ).toThrow(message);
    });
    // Red-team M4: the JWKS decides whose tokens are valid; plain HTTP only inside the cluster.
    test.each([
      ['http://evil.example.com/certs', "is plain HTTP to 'evil.example.com', outside the cluster"],
      ['http://keycloak.auth:8080/certs', "is plain HTTP to 'keycloak.auth', outside the cluster"],
      ['http://keycloak.auth.svc.evil.com/certs', "plain HTTP to 'keycloak.auth.svc.evil.com'"],
      [
        'ftp://keycloak.auth.svc/certs',
        "'jwksUri' ('ftp://keycloak.auth.svc/certs') must be an http(s) URL",
      ],
    ])('throws when the JWKS is fetched insecurely: %s', (jwksUri, message) => {
      const chart = Testing.chart();
      expect(
        () => new JwtIssuer(chart, 'kc', { issuer: ISSUER, jwksUri, audiences: ['api'] }),
      ).toThrow(message);
    });
    test.each([
      'https://auth.example.com/keys',
      'http://keycloak.auth.svc.cluster.local:8080/certs',
      'http://keycloak.auth.svc/certs',
    ])('accepts the JWKS at %s (https, or an in-cluster Service reached over mTLS)', (jwksUri) => {
      const chart = Testing.chart();
      expect(
        new JwtIssuer(chart, 'kc', { issuer: ISSUER, jwksUri, audiences: ['api'] }).jwksUri,
      ).toBe(jwksUri);
    });
    test('throws when the port is outside 1-65535', () => {
      const chart = Testing.chart();
      expect(
        () => new MeshService(chart, 'x', { namespace: 'shop', image: 'x:1', port: 70000 }),
      ).toThrow("MeshService 'x': 'port' (70000) must be an integer in 1-65535");
    });
    test('throws when the name is not a DNS-1123 label', () => {
      const chart = Testing.chart();
      expect(
        () =>
          new MeshService(chart, 'x', { name: 'Order_Service', namespace: 'shop', image: 'x:1' }),
      ).toThrow("'name' ('Order_Service') must be a DNS-1123 label");
    });
    test('throws when a path over-matches', () => {
      const { orders } = setup();
      expect(() => orders.addRoute({ paths: ['/api/admin*'], roles: ['ADMIN'] })).toThrow(
        "MeshService 'orders' route * /api/admin*: path '/api/admin*' over-matches",
      );
    });
    test('throws when a method is lower case', () => {
      const { orders } = setup();
      expect(() =>
        orders.addRoute({ methods: ['get' as 'GET'], paths: ['/a'], roles: ['USER'] }),
      ).toThrow("write 'GET'");
    });
    test('throws when roles or scopes are empty lists', () => {
      const { orders } = setup();
      expect(() => orders.addRoute({ paths: ['/a'], roles: [] })).toThrow(
        "'roles' is an empty list",
      );
      expect(() => orders.addRoute({ paths: ['/a'], scopes: [] })).toThrow(
        "'scopes' is an empty list",
      );
      expect(() => orders.addRoute({ paths: ['/a'], roles: [''] })).toThrow(
        "'roles' contains an empty value",
      );
    });
    test('throws when a route says nothing about tokens', () => {
      const { orders } = setup();
      expect(() => orders.addRoute({ paths: ['/a'] })).toThrow(
        "says nothing about tokens; set 'public: true'",
      );
    });
    test('throws when a public route also asks for a role', () => {
      const { orders } = setup();
      expect(() => orders.addRoute({ paths: ['/a'], public: true, roles: ['USER'] })).toThrow(
        'a public route cannot also require a token',
      );
    });
    test('throws when a role rule has no issuer', () => {
      const chart = Testing.chart();
      const svc = new MeshService(chart, 'x', { namespace: 'shop', image: 'x:1', exposed: true });
      expect(() => svc.addRoute({ paths: ['/a'], roles: ['USER'] })).toThrow(
        'requires a token but the system has no JWT issuer',
      );
    });
    test('throws when a route has no caller', () => {
      const { payments } = setup();
      expect(() => payments.addRoute({ paths: ['/a'], roles: ['USER'] })).toThrow('has no caller');
    });
    test('throws when a route duplicates another', () => {
      const { orders } = setup();
      orders.addRoute({ methods: ['GET'], paths: ['/api/orders'], roles: ['USER'] });
      expect(() =>
        orders.addRoute({ methods: ['GET', 'POST'], paths: ['/api/orders'], roles: ['ADMIN'] }),
      ).toThrow("duplicates the route 'GET /api/orders'");
    });
    test('throws when a service calls itself', () => {
      const { payments } = setup();
      expect(() => payments.allowFrom(payments, { paths: ['/a'], roles: ['USER'] })).toThrow(
        'cannot be its own caller',
      );
    });
    test('throws at synth when a service has no route', () => {
      const chart = Testing.chart();
      new MeshService(chart, 'idle', { namespace: 'shop', image: 'x:1' });
      expect(() => Testing.synth(chart)).toThrow("MeshService 'idle' has no route");
    });
  });
});
