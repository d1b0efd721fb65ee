import { App, Chart, Testing } from 'cdk8s';

import {
  JwtIssuer,
  Keycloak,
  type KeycloakProps,
  MeshIdentity,
  MeshService,
  type RealmSpec,
  type RouteAccess,
} from '../../charts/lib/index.js';
import { shopKeycloak, shopRealm } from '../../policies/realm.js';
import { SchemaValidator } from '../support/schema.js';

const reconciler = MeshIdentity.fromServiceAccount('shop', 'payment-reconciler');
const production: KeycloakProps = {
  ...shopKeycloak,
  mode: 'production',
  database: { host: 'postgres.db.svc.cluster.local', secretName: 'keycloak-db' },
};

function synth(props: KeycloakProps = shopKeycloak) {
  const chart = Testing.chart();
  const keycloak = new Keycloak(chart, 'Keycloak', props);
  return { keycloak, objects: Testing.synth(chart) };
}
const networkPeer = (ns: string, labels: Record<string, string>) => ({
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
  podSelector: { matchLabels: labels },
});
const find = (objects: any[], kind: string, name?: string) =>
  objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const podOf = (objects: any[]) => find(objects, 'Deployment', 'keycloak').spec.template.spec;
const envOf = (objects: any[]): Record<string, any> =>
  Object.fromEntries(
    podOf(objects).containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]),
  );

describe('Keycloak in dev mode (the shop on kind/minikube)', () => {
  const { keycloak, objects } = synth();
  const pod = podOf(objects);
  const container = pod.containers[0];
  const env = envOf(objects);

  test('runs in its own mesh namespace: STRICT, default deny, restricted PSS', () => {
    const ns = find(objects, 'Namespace', 'auth');
    expect(ns.metadata.labels).toMatchObject({
      'istio-injection': 'enabled',
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
    expect(find(objects, 'PeerAuthentication', 'default').spec).toEqual({
      mtls: { mode: 'STRICT' },
    });
    expect(find(objects, 'AuthorizationPolicy', 'default-deny').spec).toEqual({});
  });

  test('runs the pinned Keycloak 26 image with start-dev and the realm import', () => {
    expect(container.image).toMatch(/^quay\.io\/keycloak\/keycloak:26\.\d+\.\d+$/);
    expect(container.args).toEqual(['start-dev', '--import-realm']);
    expect(find(objects, 'Deployment', 'keycloak').spec.strategy).toEqual({ type: 'Recreate' });
  });

  test("believes forwarded headers only from its sidecar's inbound address (red-team L5)", () => {
    expect(env).toMatchObject({
      KC_PROXY_HEADERS: 'xforwarded',
      KC_PROXY_TRUSTED_ADDRESSES: '127.0.0.6/32,::6/128',
    });
  });

  test('sets the public hostname so iss is the same in-cluster and through the gateway', () => {
    expect(env).toMatchObject({
      KC_HOSTNAME: 'https://auth.shop.example.com',
      KC_HOSTNAME_BACKCHANNEL_DYNAMIC: 'true',
      KC_PROXY_HEADERS: 'xforwarded',
      KC_HTTP_ENABLED: 'true',
      KC_HEALTH_ENABLED: 'true',
    });
    expect(env).not.toHaveProperty('KC_DB');
    expect(keycloak.issuer).toBe('https://auth.shop.example.com/realms/shop');
    expect(keycloak.audiences).toEqual(['shop-api']);
  });

  test('probes the management port health endpoints', () => {
    const get = (p: string) => container[p].httpGet;
    expect(get('startupProbe')).toEqual({ path: '/health/started', port: 'management' });
    expect(get('readinessProbe')).toEqual({ path: '/health/ready', port: 'management' });
    expect(get('livenessProbe')).toEqual({ path: '/health/live', port: 'management' });
    expect(container.ports).toContainEqual({
      name: 'management',
      containerPort: 9000,
      protocol: 'TCP',
    });
  });

  test('is hardened: user 1000, read-only root fs, writable data and lib/quarkus emptyDirs', () => {
    for (const c of [...pod.initContainers, container]) {
      expect(c.securityContext).toMatchObject({
        runAsUser: 1000,
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
    }
    expect(pod.automountServiceAccountToken).toBe(false);
    const mounts = Object.fromEntries(container.volumeMounts.map((m: any) => [m.mountPath, m]));
    const volume = (name: string) => pod.volumes.find((v: any) => v.name === name);
    expect(volume(mounts['/opt/keycloak/data'].name).emptyDir).toBeDefined();
    expect(volume(mounts['/opt/keycloak/lib/quarkus'].name).emptyDir).toBeDefined();
    expect(mounts['/opt/keycloak/data/import']).toMatchObject({ readOnly: true });
    expect(volume(mounts['/opt/keycloak/data/import'].name).configMap).toEqual({
      name: 'keycloak-realm',
    });
    // The init container seeds the same emptyDir with the image's build.
    expect(pod.initContainers[0].command).toEqual([
      'cp',
      '-R',
      '/opt/keycloak/lib/quarkus/.',
      '/seed/',
    ]);
    expect(pod.initContainers[0].volumeMounts).toEqual([
      { name: mounts['/opt/keycloak/lib/quarkus'].name, mountPath: '/seed' },
    ]);
  });

  test('renders the realm into the ConfigMap, with demo users and the service account', () => {
    const realm = JSON.parse(find(objects, 'ConfigMap', 'keycloak-realm').data['shop-realm.json']);
    expect(realm.realm).toBe('shop');
    expect(realm.users.map((u: any) => u.username)).toEqual([
      'service-account-payment-reconciler',
      'alice',
      'admin-bob',
    ]);
  });

  test('GIVEN a client-credentials client without roles THEN its service account is rendered with none, so Keycloak does not give it the default role', () => {
    const realm = JSON.parse(find(objects, 'ConfigMap', 'keycloak-realm').data['shop-realm.json']);
    expect(realm.users[0]).toEqual({
      username: 'service-account-payment-reconciler',
      enabled: true,
      serviceAccountClientId: 'payment-reconciler',
      realmRoles: [],
    });
  });

  test('annotates the realm ConfigMap with its issuer and user classes, for the policy engine', () => {
    expect(find(objects, 'ConfigMap', 'keycloak-realm').metadata.annotations).toEqual({
      'meshward.io/issuer': 'https://auth.shop.example.com/realms/shop',
      'meshward.io/user-classes':
        '[{"name":"customer","roles":["USER"]},{"name":"staff","roles":["USER","ADMIN"]}]',
    });
  });

  test('reads every secret from a Secret, never a value: the bootstrap admin as a keycloak.conf file (red-team L8), the realm placeholders (which Keycloak reads only from the environment) through secretKeyRef', () => {
    expect(env.KC_BOOTSTRAP_ADMIN_USERNAME).toBeUndefined();
    expect(env.KC_BOOTSTRAP_ADMIN_PASSWORD).toBeUndefined();
    expect(env.KC_CONFIG_FILE).toBe(
      '/var/run/secrets/meshward/keycloak-bootstrap-admin/keycloak.conf',
    );
    expect(pod.volumes).toContainEqual({
      name: 'secret-files-0',
      secret: {
        secretName: 'keycloak-bootstrap-admin',
        items: [{ key: 'keycloak.conf', path: 'keycloak.conf' }],
        defaultMode: 0o440,
      },
    });
    expect(container.volumeMounts).toContainEqual({
      name: 'secret-files-0',
      mountPath: '/var/run/secrets/meshward/keycloak-bootstrap-admin',
      readOnly: true,
    });
    expect(env.SHOP_CLIENT_PAYMENT_RECONCILER_SECRET).toEqual({
      secretKeyRef: { name: 'payment-reconciler-oauth', key: 'client-secret' },
    });
    expect(env.SHOP_USER_ALICE_PASSWORD).toEqual({
      secretKeyRef: { name: 'keycloak-demo-users', key: 'alice-password' },
    });
    expect(Object.keys(keycloak.secretEnv).sort()).toEqual([
      'SHOP_CLIENT_PAYMENT_RECONCILER_SECRET',
      'SHOP_USER_ADMIN_BOB_PASSWORD',
      'SHOP_USER_ALICE_PASSWORD',
    ]);
  });

  test('the Service names its ports for their protocol', () => {
    expect(find(objects, 'Service', 'keycloak').spec.ports).toEqual([
      { name: 'http', port: 8080, targetPort: 'http', appProtocol: 'http', protocol: 'TCP' },
      {
        name: 'http-management',
        port: 9000,
        targetPort: 'management',
        appProtocol: 'http',
        protocol: 'TCP',
      },
    ]);
  });

  // Red-team M4: the proxies fetch the JWKS over mTLS (jwksFetch 'envoy', the default).
  test('no port is PERMISSIVE and no rule admits a caller without a principal', () => {
    expect(objects.filter((o: any) => o.kind === 'PeerAuthentication')).toEqual([
      expect.objectContaining({ metadata: expect.objectContaining({ name: 'default' }) }),
    ]);
    const rules = find(objects, 'AuthorizationPolicy', 'keycloak').spec.rules;
    expect(rules.filter((r: any) => !r.from)).toEqual([]);
  });

  test('the gateway reaches the realm and theme resources; the reconciler only the token endpoint', () => {
    const rules = find(objects, 'AuthorizationPolicy', 'keycloak').spec.rules;
    expect(rules[0]).toEqual({
      from: [{ source: { principals: [MeshIdentity.ingressGateway().principal] } }],
      to: [
        {
          operation: {
            methods: ['GET', 'POST', 'OPTIONS'],
            paths: ['/realms/shop/*', '/resources/*'],
            ports: ['8080'],
          },
        },
      ],
    });
    expect(rules[1]).toEqual({
      from: [{ source: { principals: [reconciler.principal] } }],
      to: [
        {
          operation: {
            methods: ['POST'],
            paths: ['/realms/shop/protocol/openid-connect/token'],
            ports: ['8080'],
          },
        },
      ],
    });
  });

  test('the NetworkPolicy admits the gateway and the token callers by their pods, not their whole namespaces (red-team L9), and not istiod', () => {
    expect(find(objects, 'NetworkPolicy', 'keycloak').spec.ingress).toEqual([
      {
        from: [
          networkPeer('istio-system', { istio: 'ingressgateway' }),
          networkPeer('shop', { app: 'payment-reconciler' }),
        ],
        ports: [{ port: 8080, protocol: 'TCP' }],
      },
    ]);
  });

  test('the admin console, admin API and master realm are denied to every caller', () => {
    const deny = find(objects, 'AuthorizationPolicy', 'keycloak-deny-admin');
    expect(deny.spec).toEqual({
      selector: { matchLabels: { app: 'keycloak' } },
      action: 'DENY',
      rules: [
        {
          to: [
            {
              operation: {
                ports: ['8080'],
                paths: ['/admin', '/admin/*', '/realms/master', '/realms/master/*'],
              },
            },
          ],
        },
      ],
    });
  });

  test('a realm change rolls the pod (realm hash annotation)', () => {
    const changed = synth({ ...shopKeycloak, realm: { ...shopRealm, accessTokenLifespan: 120 } });
    const hash = (o: any[]) =>
      find(o, 'Deployment').spec.template.metadata.annotations['meshward.io/realm-sha256'];
    expect(hash(objects)).toMatch(/^[a-f0-9]{64}$/);
    expect(hash(changed.objects)).not.toBe(hash(objects));
  });

  test('every object matches its upstream schema', () => {
    const validator = new SchemaValidator();
    for (const o of objects)
      expect({ kind: o.kind, errors: validator.validate(o) }).toEqual({ kind: o.kind, errors: [] });
  });
});

describe('the JWKS fetch (red-team M4)', () => {
  /** Keycloak beside a shop: its realm's tokens verified in `shop` (every pod) and at the gateway. */
  function withVerifiers(props: KeycloakProps = shopKeycloak) {
    const chart = Testing.chart();
    const keycloak = new Keycloak(chart, 'Keycloak', props);
    const issuer = new JwtIssuer(chart, 'kc', {
      issuer: keycloak.issuer,
      jwksUri: keycloak.jwksUri,
      audiences: keycloak.audiences,
    });
    issuer.bindTo('shop');
    issuer.bindTo('istio-system', { selector: { istio: 'ingressgateway' } });
    const orders = new MeshService(chart, 'orders', {
      namespace: 'shop',
      image: 'orders:1',
      issuer,
      exposed: true,
    });
    orders.addRoute({ paths: ['/api/orders'], authenticated: true });
    const elsewhere = new MeshService(chart, 'elsewhere', {
      namespace: 'other',
      image: 'other:1',
      exposed: true,
    });
    elsewhere.addRoute({ paths: ['/'], public: true });
    return Testing.synth(chart);
  }
  const jwksOperation = {
    operation: {
      methods: ['GET'],
      paths: ['/realms/shop/protocol/openid-connect/certs'],
      ports: ['8080'],
    },
  };

  test("GIVEN jwksFetch 'envoy' (the default) WHEN the realm's tokens are verified in a namespace and at the gateway THEN exactly those proxies' principals may GET the JWKS, their pods reach the port, and the port stays STRICT", () => {
    const objects = withVerifiers();
    const rules = find(objects, 'AuthorizationPolicy', 'keycloak').spec.rules;
    expect(rules.filter((r: any) => r.to[0].operation.paths?.[0]?.endsWith('/certs'))).toEqual([
      {
        from: [
          {
            source: {
              principals: [
                'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
                'cluster.local/ns/shop/sa/orders',
              ],
            },
          },
        ],
        to: [jwksOperation],
      },
    ]);
    expect(find(objects, 'PeerAuthentication', 'keycloak-jwks-fetch')).toBeUndefined();
    const from = find(objects, 'NetworkPolicy', 'keycloak').spec.ingress[0].from;
    expect(from).toContainEqual(networkPeer('shop', { app: 'orders' }));
    expect(from).not.toContainEqual(networkPeer('other', { app: 'elsewhere' }));
    expect(from).toContainEqual(networkPeer('istio-system', { istio: 'ingressgateway' }));
    expect(from).not.toContainEqual(networkPeer('istio-system', { app: 'istiod' }));
    const { routes } = JSON.parse(
      find(objects, 'Service', 'keycloak').metadata.annotations['meshward.io/routes'],
    );
    expect(routes).toContainEqual(
      expect.objectContaining({
        paths: ['/realms/shop/protocol/openid-connect/certs'],
        principals: [
          'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
          'cluster.local/ns/shop/sa/orders',
        ],
      }),
    );
  });

  test("GIVEN jwksFetch 'envoy' and no RequestAuthentication naming the realm's JWKS THEN no one may GET it", () => {
    const rules = find(synth().objects, 'AuthorizationPolicy', 'keycloak').spec.rules;
    expect(rules.filter((r: any) => r.to[0].operation.paths?.[0]?.endsWith('/certs'))).toEqual([]);
  });

  test("GIVEN jwksFetch 'istiod' THEN the HTTP port is PERMISSIVE with the reason stated, the pod stays STRICT, plaintext may only GET the JWKS, and istiod's pods reach the port", () => {
    const objects = withVerifiers({ ...shopKeycloak, jwksFetch: 'istiod' });
    const peer = find(objects, 'PeerAuthentication', 'keycloak-jwks-fetch');
    expect(peer.spec).toEqual({
      selector: { matchLabels: { app: 'keycloak' } },
      mtls: { mode: 'STRICT' },
      portLevelMtls: { '8080': { mode: 'PERMISSIVE' } },
    });
    expect(peer.metadata.annotations['meshward.io/reason']).toContain('istiod');
    const rules = find(objects, 'AuthorizationPolicy', 'keycloak').spec.rules;
    expect(rules.filter((r: any) => !r.from)).toEqual([{ to: [jwksOperation] }]);
    expect(find(objects, 'NetworkPolicy', 'keycloak').spec.ingress[0].from).toContainEqual(
      networkPeer('istio-system', { app: 'istiod' }),
    );
  });

  test("GIVEN jwksFetch 'both' THEN the synth fails naming the prop and the value", () => {
    expect(() => synth({ ...shopKeycloak, jwksFetch: 'both' as never })).toThrow(
      "Keycloak 'keycloak': 'jwksFetch' ('both') must be 'envoy' or 'istiod'",
    );
  });
});

describe('the bootstrap admin', () => {
  test('GIVEN no bootstrapAdmin THEN its username and password keys are environment variables from secretKeyRef', () => {
    const { bootstrapAdmin: _, ...props } = shopKeycloak;
    const env = envOf(synth(props).objects);
    expect(env.KC_BOOTSTRAP_ADMIN_USERNAME).toEqual({
      secretKeyRef: { name: 'keycloak-bootstrap-admin', key: 'username' },
    });
    expect(env.KC_BOOTSTRAP_ADMIN_PASSWORD).toEqual({
      secretKeyRef: { name: 'keycloak-bootstrap-admin', key: 'password' },
    });
    expect(env.KC_CONFIG_FILE).toBeUndefined();
  });

  test('GIVEN configKey beside usernameKey THEN the synth fails naming both', () => {
    expect(() =>
      synth({
        ...shopKeycloak,
        bootstrapAdmin: { secretName: 'kc-admin', configKey: 'keycloak.conf', usernameKey: 'u' },
      }),
    ).toThrow(
      "Keycloak 'keycloak': 'bootstrapAdmin' gives 'configKey' ('keycloak.conf') and 'usernameKey'/'passwordKey'",
    );
  });
});

describe('Keycloak in production mode', () => {
  const { objects } = synth(production);
  const env = envOf(objects);

  test('runs start against PostgreSQL with credentials from a Secret', () => {
    expect(podOf(objects).containers[0].args).toEqual(['start', '--import-realm']);
    expect(env).toMatchObject({
      KC_DB: 'postgres',
      KC_DB_URL_HOST: 'postgres.db.svc.cluster.local',
      KC_DB_URL_PORT: '5432',
      KC_DB_URL_DATABASE: 'keycloak',
      KC_DB_USERNAME: { secretKeyRef: { name: 'keycloak-db', key: 'username' } },
      KC_DB_PASSWORD: { secretKeyRef: { name: 'keycloak-db', key: 'password' } },
    });
  });

  test('imports no demo users (only the service account) and needs no demo-user Secrets', () => {
    const realm = JSON.parse(find(objects, 'ConfigMap', 'keycloak-realm').data['shop-realm.json']);
    expect(realm.users.map((u: any) => u.serviceAccountClientId)).toEqual(['payment-reconciler']);
    expect(Object.keys(env).filter((k) => k.includes('_USER_'))).toEqual([]);
  });

  test('several replicas share a distributed cache, allowed only between Keycloak pods', () => {
    const ha = synth({ ...production, replicas: 2 }).objects;
    expect(envOf(ha).KC_CACHE).toBe('ispn');
    const rules = find(ha, 'AuthorizationPolicy', 'keycloak').spec.rules;
    expect(rules).toContainEqual({
      from: [{ source: { principals: ['cluster.local/ns/auth/sa/keycloak'] } }],
      to: [{ operation: { ports: ['7800', '57800'] } }],
    });
    expect(find(ha, 'PodDisruptionBudget', 'keycloak')).toBeDefined();
  });
});

describe('Keycloak in production mode with the in-chart PostgreSQL', () => {
  const props: KeycloakProps = {
    ...shopKeycloak,
    mode: 'production',
    inChartDatabase: { secretName: 'keycloak-db', storage: '5Gi' },
  };
  const { objects } = synth(props);
  const postgres = find(objects, 'StatefulSet', 'keycloak-postgres');

  test('Keycloak connects to the in-chart database with the Secret credentials', () => {
    expect(envOf(objects)).toMatchObject({
      KC_DB: 'postgres',
      KC_DB_URL_HOST: 'keycloak-postgres.auth.svc.cluster.local',
      KC_DB_URL_DATABASE: 'keycloak',
      KC_DB_PASSWORD: { secretKeyRef: { name: 'keycloak-db', key: 'password' } },
    });
    const pgEnv = Object.fromEntries(
      postgres.spec.template.spec.containers[0].env.map((e: any) => [
        e.name,
        e.value ?? e.valueFrom,
      ]),
    );
    expect(pgEnv).toMatchObject({
      POSTGRES_USER: { secretKeyRef: { name: 'keycloak-db', key: 'username' } },
      POSTGRES_PASSWORD: { secretKeyRef: { name: 'keycloak-db', key: 'password' } },
      POSTGRES_DB: 'keycloak',
    });
  });

  test('the database is a hardened StatefulSet with a volume claim', () => {
    const pod = postgres.spec.template.spec;
    expect(pod.containers[0].image).toBe('docker.io/library/postgres:17.6');
    expect(pod.containers[0].securityContext).toMatchObject({
      runAsUser: 999,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(pod.containers[0].volumeMounts.map((m: any) => m.mountPath)).toEqual([
      '/tmp',
      '/var/lib/postgresql/data',
      '/var/run/postgresql',
    ]);
    expect(postgres.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('5Gi');
  });

  test('only Keycloak may connect: mTLS principal and NetworkPolicy', () => {
    expect(find(objects, 'AuthorizationPolicy', 'keycloak-postgres').spec).toEqual({
      selector: { matchLabels: { app: 'keycloak-postgres' } },
      action: 'ALLOW',
      rules: [
        {
          from: [{ source: { principals: ['cluster.local/ns/auth/sa/keycloak'] } }],
          to: [{ operation: { ports: ['5432'] } }],
        },
      ],
    });
    expect(find(objects, 'NetworkPolicy', 'keycloak-postgres').spec.ingress).toEqual([
      {
        from: [{ podSelector: { matchLabels: { app: 'keycloak' } } }],
        ports: [{ port: 5432, protocol: 'TCP' }],
      },
    ]);
    expect(find(objects, 'Service', 'keycloak-postgres').spec.ports[0].name).toBe('tcp-postgres');
  });

  test('every object matches its upstream schema', () => {
    const validator = new SchemaValidator();
    for (const o of objects) {
      expect({ kind: o.kind, name: o.metadata.name, errors: validator.validate(o) }).toEqual({
        kind: o.kind,
        name: o.metadata.name,
        errors: [],
      });
    }
  });
});

describe('bad Keycloak props are synth-time errors', () => {
  test.each<[string, KeycloakProps, string]>([
    [
      'production has no database',
      { ...production, database: undefined },
      "'production' mode needs 'database'",
    ],
    [
      'both an external and an in-chart database are given',
      { ...production, inChartDatabase: { secretName: 'keycloak-db' } },
      "give 'database' (external) or 'inChartDatabase', not both",
    ],
    [
      'dev mode is given an in-chart database',
      { ...shopKeycloak, inChartDatabase: { secretName: 'keycloak-db' } },
      "'dev' mode uses the embedded H2 database",
    ],
    [
      'the in-chart database image is latest',
      {
        ...production,
        database: undefined,
        inChartDatabase: { secretName: 'keycloak-db', image: 'postgres:latest' },
      },
      "'inChartDatabase.image' ('postgres:latest') must be pinned",
    ],
    [
      'dev mode is given a database',
      { ...shopKeycloak, database: production.database },
      "'dev' mode uses the embedded H2 database",
    ],
    [
      'dev mode has two replicas',
      { ...shopKeycloak, replicas: 2 },
      "'replicas' (2) needs 'production' mode",
    ],
    [
      'the image is latest',
      { ...shopKeycloak, image: 'quay.io/keycloak/keycloak:latest' },
      'must be pinned',
    ],
    [
      'the image has no tag',
      { ...shopKeycloak, image: 'quay.io/keycloak/keycloak' },
      'must be pinned',
    ],
    [
      'the public URL is http',
      { ...shopKeycloak, publicUrl: 'http://auth.example.com' },
      'must be an https URL',
    ],
    [
      'the port is the management port',
      { ...shopKeycloak, port: 9000 },
      "'port' (9000) collides with the management port",
    ],
    [
      'the namespace is not a DNS label',
      { ...shopKeycloak, namespace: 'Auth' },
      "'namespace' ('Auth') must be a DNS-1123 label",
    ],
    [
      'the realm is invalid',
      { ...shopKeycloak, realm: { ...shopRealm, accessTokenLifespan: 0 } },
      "realm 'shop': 'accessTokenLifespan' (0)",
    ],
  ])('throws when %s', (_case, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });

  test('throws when a token caller is added twice', () => {
    const chart = Testing.chart();
    const keycloak = new Keycloak(chart, 'Keycloak', shopKeycloak);
    expect(() => {
      keycloak.allowTokenRequests(reconciler);
    }).toThrow("'cluster.local/ns/shop/sa/payment-reconciler' is already a token caller");
  });
});

describe('the realm ↔ policy contract at synth time', () => {
  /** An app with the shop's Keycloak and one exposed service guarded by `route`. */
  function appWith(route: RouteAccess, realm: RealmSpec = shopRealm) {
    const app = new App({ outdir: Testing.app().outdir });
    const keycloak = new Keycloak(new Chart(app, 'auth'), 'Keycloak', { ...shopKeycloak, realm });
    const service = new MeshService(new Chart(app, 'shop'), 'orders', {
      namespace: 'shop',
      image: 'orders:1',
      issuer: keycloak,
      exposed: true,
    });
    service.addRoute(route);
    return app;
  }
  const ungranted: RealmSpec = {
    ...shopRealm,
    clientScopes: shopRealm.clientScopes.map((s) =>
      s.name === 'admin:read' ? { ...s, grantedToRoles: undefined } : s,
    ),
  };

  test('GIVEN a route guarded by a scope that the realm grants to ADMIN only WHEN synthesized THEN it passes', () => {
    expect(() => {
      appWith({ methods: ['GET'], paths: ['/all'], scopes: ['admin:read'] }).synth();
    }).not.toThrow();
  });

  test('rejects a route guarded only by a scope any user of the public client can obtain, naming the route, the scope and the client', () => {
    expect(() => {
      appWith({ methods: ['GET'], paths: ['/all'], scopes: ['admin:read'] }, ungranted).synth();
    }).toThrow(
      "MW207 AuthorizationPolicy shop/orders: scope 'admin:read' guards GET /all but any user of public client 'shop-web' can obtain it: grant it to roles, or require a role on the route",
    );
  });

  test('GIVEN the same ungranted scope WHEN the route also requires a role THEN it passes', () => {
    expect(() => {
      appWith(
        { methods: ['GET'], paths: ['/all'], roles: ['ADMIN'], scopes: ['admin:read'] },
        ungranted,
      ).synth();
    }).not.toThrow();
  });

  test('rejects a role the realm does not define', () => {
    expect(() => {
      appWith({ paths: ['/x'], roles: ['AUDITOR'] }).synth();
    }).toThrow(
      "MW202 AuthorizationPolicy shop/orders: rule 0 (* /x) requires role 'AUDITOR', which realm 'shop' does not define (roles: USER, ADMIN)",
    );
  });

  test('rejects a client (azp) the realm does not have', () => {
    expect(() => {
      appWith({ paths: ['/x'], clients: ['billing'] }).synth();
    }).toThrow(
      "MW205 AuthorizationPolicy shop/orders: rule 0 (* /x) requires azp 'billing', but realm 'shop' has no enabled client 'billing'",
    );
  });

  test('rejects a scope no client of the realm has', () => {
    expect(() => {
      appWith({ paths: ['/x'], scopes: ['orders:write'] }).synth();
    }).toThrow(
      "MW203 AuthorizationPolicy shop/orders: rule 0 (* /x) requires scope 'orders:write', but realm 'shop' has no such client scope",
    );
  });

  test('rejects, in production mode, a role that no user class holds', () => {
    const noClasses: RealmSpec = { ...shopRealm, userClasses: undefined };
    const app = new App({ outdir: Testing.app().outdir });
    const keycloak = new Keycloak(new Chart(app, 'auth'), 'Keycloak', {
      ...production,
      realm: noClasses,
    });
    new MeshService(new Chart(app, 'shop'), 'orders', {
      namespace: 'shop',
      image: 'orders:1',
      issuer: keycloak,
      exposed: true,
    }).addRoute({ paths: ['/x'], roles: ['USER'] });

    expect(() => {
      app.synth();
    }).toThrow(
      "requires role 'USER', which no user, user class or service account of realm 'shop' holds",
    );
  });

  test('GIVEN a realm without an audience mapper for the issuer audience THEN the RequestAuthentication is reported', () => {
    const noAudience: RealmSpec = {
      ...shopRealm,
      clientScopes: shopRealm.clientScopes.map((s) =>
        s.name === 'shop-api-audience' ? { ...s, mappers: [] } : s,
      ),
    };
    const app = new App({ outdir: Testing.app().outdir });
    const keycloak = new Keycloak(new Chart(app, 'auth'), 'Keycloak', {
      ...shopKeycloak,
      realm: noAudience,
    });
    const issuer = { issuer: keycloak.issuer, jwksUri: keycloak.jwksUri, audiences: ['shop-api'] };
    const shopChart = new Chart(app, 'shop');
    new MeshService(shopChart, 'orders', {
      namespace: 'shop',
      image: 'orders:1',
      issuer,
      exposed: true,
    }).addRoute({ paths: ['/x'], roles: ['USER'] });
    new JwtIssuer(shopChart, 'Issuer', issuer).bindTo('shop');

    expect(() => {
      app.synth();
    }).toThrow(
      "MW204 RequestAuthentication shop/jwt-issuer: requires audience 'shop-api', but no client of realm 'shop' maps it into its tokens",
    );
  });
});
