/**
 * The red-team review's bad-input catalog for the constructs (research/red-team/NOTES.md,
 * "## Bad inputs": 87 inputs at 9bdcfe4, 61 threw and 26 synthesized), one row per input with
 * what it does today. Each outcome is one of:
 * - refused: synth throws an Error that names the construct (or its id), the property and the
 *   value, never a raw TypeError;
 * - valid on purpose: it synthesizes, for the reason given, and the test asserts what keeps it
 *   safe (the exact object, nothing wider);
 * - fails closed: it synthesizes a rule that can never match, and the test asserts that the
 *   rule is exactly that and nothing wider.
 * There is no fourth outcome: an input that would be silently wider is a bug, not a row.
 */
import { type App, Chart, Testing } from 'cdk8s';

import {
  ApiGateway,
  type ApiGatewayProps,
  type IMeshIdentity,
  JwtIssuer,
  Keycloak,
  type KeycloakProps,
  MeshIdentity,
  MeshService,
  meshServiceBackend,
  MeshSystem,
  type RealmClient,
  type RealmSpec,
  type RouteIntent,
  type ServiceIntent,
  type SystemIntent,
} from '../../charts/lib/index.js';
import { shopKeycloak, shopRealm } from '../../policies/realm.js';
import type { KubeObject } from '../support/manifests.js';

const ISSUER = 'https://auth.example.com/realms/shop';
const issuer = {
  issuer: ISSUER,
  jwksUri: 'http://keycloak.auth.svc.cluster.local:8080/realms/shop/protocol/openid-connect/certs',
  audiences: ['shop-api'],
};
const GATEWAY = MeshIdentity.ingressGateway().principal;
const HOST = 'shop.example.com';

/** A small valid system; each row breaks one thing in it. */
const front: ServiceIntent = {
  name: 'front',
  image: 'meshward/front:1.0.0',
  exposed: true,
  routes: [{ methods: ['GET'], paths: ['/api/orders'], roles: ['USER'] }],
};
const back: ServiceIntent = {
  name: 'back',
  image: 'meshward/back:1.0.0',
  routes: [{ methods: ['POST'], paths: ['/api/payments'], callers: ['front'], roles: ['USER'] }],
};
const base: SystemIntent = {
  namespace: 'shop',
  issuer,
  services: [front, back],
  jobs: [{ name: 'nightly', image: 'meshward/nightly:1.0.0', schedule: '0 3 * * *' }],
};

/** An input as a user gives it: the construct, the props that differ from the valid base, and how it is synthesized. */
interface Input {
  readonly construct: string;
  readonly props: unknown;
  readonly synth: () => KubeObject[];
}

/** Builds into a fresh app and synthesizes it as `cdk8s synth` does: validations first. */
function synthApp(build: (app: App) => void): KubeObject[] {
  const app = Testing.app();
  build(app);
  app.synthYaml();
  return app.charts.flatMap((c) => c.toJson() as KubeObject[]);
}
const system = (props: Partial<SystemIntent>): Input => ({
  construct: 'MeshSystem',
  props,
  synth: () =>
    synthApp(
      (app) =>
        new MeshSystem(app, 'shop', {
          intent: { ...base, ...props },
          disableResourceNameHashes: true,
        }),
    ),
});
const service = (props: Partial<ServiceIntent>): Input => ({
  ...system({ services: [{ ...front, ...props }, back] }),
  props,
});
const route = (props: Partial<RouteIntent>): Input => ({
  ...service({ routes: [{ ...front.routes[0], ...props }] }),
  props,
});
const backRoute = (props: Partial<RouteIntent>): Input => ({
  ...system({ services: [front, { ...back, routes: [{ ...back.routes[0], ...props }] }] }),
  props,
});
const gateway = (props: Partial<ApiGatewayProps>, intent: SystemIntent = base): Input => ({
  construct: 'ApiGateway',
  props,
  synth: () =>
    synthApp((app) => {
      const shop = new MeshSystem(app, 'shop', { intent, disableResourceNameHashes: true });
      const chart = new Chart(app, 'gateway', { disableResourceNameHashes: true });
      new ApiGateway(chart, 'Gateway', {
        hosts: [{ host: HOST, credentialName: 'shop-tls' }],
        routes: [{ host: HOST, backend: 'front' }],
        backends: [meshServiceBackend(shop.services.get('front')!)],
        issuer: intent.issuer,
        ...props,
      });
    }),
});
const keycloak = (props: Partial<KeycloakProps>): Input => ({
  construct: 'Keycloak',
  props,
  synth: () =>
    synthApp(
      (app) =>
        new Keycloak(new Chart(app, 'auth', { disableResourceNameHashes: true }), 'Keycloak', {
          ...shopKeycloak,
          ...props,
        }),
    ),
});
const realm = (props: Partial<RealmSpec>): Input => ({
  ...keycloak({ realm: { ...shopRealm, ...props } }),
  props,
});
const client = (clientId: string, props: Partial<RealmClient>): Input => ({
  ...realm({
    clients: shopRealm.clients.map((c) => (c.clientId === clientId ? { ...c, ...props } : c)),
  }),
  props,
});
/** A construct used directly, in chart `shop`. */
const direct = (construct: string, props: unknown, build: (chart: Chart) => void): Input => ({
  construct,
  props,
  synth: () =>
    synthApp((app) => {
      build(new Chart(app, 'shop', { disableResourceNameHashes: true }));
    }),
});

const find = (objects: KubeObject[], kind: string, namespace: string, name: string) => {
  const o = objects.find(
    (x) => x.kind === kind && x.metadata.namespace === namespace && x.metadata.name === name,
  );
  if (!o) throw new Error(`no ${kind} ${namespace}/${name}`);
  return o as any;
};
const frontRules = (objects: KubeObject[]) =>
  find(objects, 'AuthorizationPolicy', 'shop', 'front').spec.rules;
/** front's one rule as it renders: the gateway with a token, GET on `paths`, `roles`. */
const frontRule = (paths: string[], roles = ['USER']) => ({
  from: [{ source: { principals: [GATEWAY], requestPrincipals: [`${ISSUER}/*`] } }],
  to: [{ operation: { methods: ['GET'], paths } }],
  when: [{ key: 'request.auth.claims[realm_access][roles]', values: roles }],
});
const realmJson = (objects: KubeObject[]) =>
  JSON.parse(find(objects, 'ConfigMap', 'auth', 'keycloak-realm').data['shop-realm.json']);

type Outcome =
  | { readonly outcome: 'refused'; readonly error: RegExp }
  | {
      readonly outcome: 'valid on purpose';
      readonly reason: string;
      readonly safe: (objects: KubeObject[]) => void;
    }
  | {
      readonly outcome: 'fails closed';
      readonly reason: string;
      readonly rendered: (objects: KubeObject[]) => unknown;
      readonly exactly: unknown;
    };
const refused = (error: RegExp): Outcome => ({ outcome: 'refused', error });
const validOnPurpose = (reason: string, safe: (objects: KubeObject[]) => void): Outcome => ({
  outcome: 'valid on purpose',
  reason,
  safe,
});
const failsClosed = (
  reason: string,
  rendered: (objects: KubeObject[]) => unknown,
  exactly: unknown,
): Outcome => ({ outcome: 'fails closed', reason, rendered, exactly });

/** How the review found the input: it threw, or it synthesized and was silently wider, a dead rule, hygiene or valid. */
type Review = 'threw' | 'wider' | 'dead rule' | 'hygiene' | 'valid';

type Row = {
  readonly id: string;
  readonly review: Review;
  readonly input: Input;
} & Outcome;
const row = (id: string, review: Review, input: Input, outcome: Outcome): Row => ({
  id,
  review,
  input,
  ...outcome,
});

const rows: readonly Row[] = [
  // names
  row(
    'names/empty',
    'threw',
    service({ name: '' }),
    refused(/^MeshService '': 'name' \(''\) must be a DNS-1123 label/),
  ),
  row(
    'names/upper-case',
    'threw',
    service({ name: 'Front' }),
    refused(/^MeshService 'Front': 'name' \('Front'\) must be a DNS-1123 label/),
  ),
  row(
    'names/unicode',
    'threw',
    service({ name: 'frönt' }),
    refused(/^MeshService 'frönt': 'name' \('frönt'\) must be a DNS-1123 label/),
  ),
  row(
    'names/empty-namespace',
    'threw',
    system({ namespace: '' }),
    refused(/^MeshNamespace 'Namespace': 'name' \(''\) must be a DNS-1123 label/),
  ),
  // duplicates
  row(
    'duplicates/service',
    'threw',
    system({ services: [front, back, front] }),
    refused(/^system 'shop': service name 'front' is declared twice$/),
  ),
  row(
    'duplicates/route',
    'threw',
    service({ routes: [front.routes[0], front.routes[0]] }),
    refused(
      /^MeshService 'front' route GET \/api\/orders: duplicates the route 'GET \/api\/orders'$/,
    ),
  ),
  // paths
  row(
    'paths/slash-star',
    'threw',
    route({ paths: ['/*'] }),
    refused(/^MeshService 'front' route GET \/\*: path '\/\*' matches every path/),
  ),
  row(
    'paths/prefix-star',
    'threw',
    route({ paths: ['/admin*'] }),
    refused(/^MeshService 'front' route GET \/admin\*: path '\/admin\*' over-matches/),
  ),
  row(
    'paths/dot-dot',
    'threw',
    route({ paths: ['/api/../admin'] }),
    refused(/^MeshService 'front' .*: path '\/api\/\.\.\/admin' must not contain '\.' or '\.\.'/),
  ),
  row(
    'paths/percent-encoded',
    'threw',
    route({ paths: ['/api/%2e%2e/admin'] }),
    refused(
      /^MeshService 'front' .*: path '\/api\/%2e%2e\/admin' must not contain percent-encoding/,
    ),
  ),
  row(
    'paths/no-leading-slash',
    'threw',
    route({ paths: ['api/orders'] }),
    refused(/^MeshService 'front' .*: path 'api\/orders' must start with '\/'$/),
  ),
  row(
    'paths/empty',
    'threw',
    route({ paths: [''] }),
    refused(/^MeshService 'front' route GET : 'paths' contains an empty value$/),
  ),
  row(
    'paths/empty-list',
    'threw',
    route({ paths: [] }),
    refused(/^MeshService 'front' route GET : 'paths' is an empty list/),
  ),
  row(
    'paths/star-in-template',
    'threw',
    route({ paths: ['/api/x*/{id}'] }),
    refused(
      /^MeshService 'front' .*: path '\/api\/x\*\/\{id\}' has an invalid template segment 'x\*'/,
    ),
  ),
  // methods
  row(
    'methods/lower-case',
    'threw',
    route({ methods: ['get' as 'GET'] }),
    refused(/^MeshService 'front' .*: method 'get' is not a valid HTTP method .*write 'GET'/),
  ),
  row(
    'methods/trace',
    'threw',
    route({ methods: ['TRACE' as 'GET'] }),
    refused(/^MeshService 'front' .*: method 'TRACE' is not a valid HTTP method \(one of GET,/),
  ),
  row(
    'methods/empty',
    'threw',
    route({ methods: [] }),
    refused(/^MeshService 'front' route {2}\/api\/orders: 'methods' is empty/),
  ),
  // callers and tokens
  row(
    'callers/unknown',
    'threw',
    backRoute({ callers: ['ghost'] }),
    refused(/^service 'back' route \/api\/payments: caller 'ghost' is not a service or job/),
  ),
  row(
    'callers/self',
    'threw',
    backRoute({ callers: ['back'] }),
    refused(/^MeshService 'back' route POST \/api\/payments: a service cannot be its own caller$/),
  ),
  row(
    'tokens/public-and-roles',
    'threw',
    route({ public: true }),
    refused(/^MeshService 'front' .*: a public route cannot also require a token \(.*roles/),
  ),
  row(
    'tokens/public-and-authenticated',
    'threw',
    route({ roles: undefined, public: true, authenticated: true }),
    refused(/^MeshService 'front' .*: a public route cannot also require a token \(authenticated/),
  ),
  row(
    'tokens/says-nothing',
    'threw',
    route({ roles: undefined }),
    refused(/^MeshService 'front' route GET \/api\/orders: says nothing about tokens; set 'public/),
  ),
  row(
    'tokens/empty-roles',
    'threw',
    route({ roles: [] }),
    refused(/^MeshService 'front' .*: 'roles' is an empty list/),
  ),
  row(
    'tokens/blank-role',
    'threw',
    route({ roles: [' '] }),
    refused(/^MeshService 'front' .*: 'roles' contains an empty value$/),
  ),
  row(
    'tokens/no-issuer',
    'threw',
    system({ issuer: undefined }),
    refused(/^MeshService 'front' route GET \/api\/orders: requires a token but .* no JWT issuer/),
  ),
  // numbers, image and env
  row(
    'numbers/port-negative',
    'threw',
    service({ port: -1 }),
    refused(/^MeshService 'front': 'port' \(-1\) must be an integer in 1-65535$/),
  ),
  row(
    'numbers/port-zero',
    'threw',
    service({ port: 0 }),
    refused(/^MeshService 'front': 'port' \(0\) must be an integer in 1-65535$/),
  ),
  row(
    'numbers/port-too-big',
    'threw',
    service({ port: 70000 }),
    refused(/^MeshService 'front': 'port' \(70000\) must be an integer in 1-65535$/),
  ),
  row(
    'numbers/port-fraction',
    'threw',
    service({ port: 8080.5 }),
    refused(/^MeshService 'front': 'port' \(8080\.5\) must be an integer in 1-65535$/),
  ),
  row(
    'numbers/replicas-zero',
    'threw',
    service({ replicas: 0 }),
    refused(/^MeshService 'front': 'replicas' \(0\) must be a positive integer$/),
  ),
  row(
    'image/empty',
    'threw',
    service({ image: '' }),
    refused(/^MeshService 'front': 'image' is empty$/),
  ),
  row(
    'env/bad-name',
    'threw',
    service({ env: { 'BAD-NAME': 'x' } }),
    refused(/^container 'front': env name 'BAD-NAME' is not a valid variable name$/),
  ),
  // jobs and issuer
  row(
    'jobs/bad-schedule',
    'threw',
    system({ jobs: [{ name: 'nightly', image: 'meshward/nightly:1.0.0', schedule: 'hourly' }] }),
    refused(/^MeshCronJob 'nightly': 'schedule' \('hourly'\) must have five cron fields$/),
  ),
  row(
    'jobs/named-like-service',
    'threw',
    system({ jobs: [{ name: 'front', image: 'meshward/nightly:1.0.0', schedule: '0 3 * * *' }] }),
    refused(/^system 'shop': job name 'front' is declared twice$/),
  ),
  row(
    'issuer/not-a-url',
    'threw',
    system({ issuer: { ...issuer, issuer: 'auth.example.com' } }),
    refused(/^JwtIssuer 'Issuer': 'issuer' \('auth\.example\.com'\) is not a URL$/),
  ),
  row(
    'issuer/empty-audiences',
    'threw',
    system({ issuer: { ...issuer, audiences: [] } }),
    refused(
      /^JwtIssuer 'Issuer': 'audiences' must name at least one non-empty audience \(got \[\]\)$/,
    ),
  ),
  // identities
  row(
    'identities/star',
    'threw',
    direct('MeshIdentity', { serviceAccountName: '*' }, () =>
      MeshIdentity.fromServiceAccount('shop', '*'),
    ),
    refused(/^MeshIdentity: 'serviceAccountName' \('\*'\) must be a DNS-1123 label/),
  ),
  row(
    'identities/spiffe',
    'threw',
    direct('MeshIdentity', { namespace: 'spiffe://cluster.local/ns/shop' }, () =>
      MeshIdentity.fromServiceAccount('spiffe://cluster.local/ns/shop', 'web'),
    ),
    refused(
      /^MeshIdentity: 'namespace' \('spiffe:\/\/cluster\.local\/ns\/shop'\) must be a DNS-1123/,
    ),
  ),
  // gateway
  row(
    'gateway/wildcard-host',
    'threw',
    gateway({
      hosts: [{ host: '*.example.com', credentialName: 'shop-tls' }],
      routes: [{ host: '*.example.com', backend: 'front' }],
    }),
    refused(/^ApiGateway 'Gateway': host '\*\.example\.com' must be .* without wildcard$/),
  ),
  row(
    'gateway/upper-case-host',
    'threw',
    gateway({
      hosts: [{ host: 'Shop.example.com', credentialName: 'shop-tls' }],
      routes: [{ host: 'Shop.example.com', backend: 'front' }],
    }),
    refused(
      /^ApiGateway 'Gateway': host 'Shop\.example\.com' must be a fully qualified lower-case/,
    ),
  ),
  row(
    'gateway/no-hosts',
    'threw',
    gateway({ hosts: [], routes: [] }),
    refused(/^ApiGateway 'Gateway': 'hosts' is empty$/),
  ),
  row(
    'gateway/empty-cidrs',
    'threw',
    gateway({ allowedCidrs: [] }),
    refused(/^ApiGateway 'Gateway': 'allowedCidrs' is empty, which would refuse every client/),
  ),
  row(
    'gateway/cidr-prefix-33',
    'threw',
    gateway({ allowedCidrs: ['203.0.113.0/33'] }),
    refused(/^ApiGateway 'Gateway': CIDR '203\.0\.113\.0\/33' has an invalid prefix length/),
  ),
  row(
    'gateway/cidr-host-bits',
    'threw',
    gateway({ allowedCidrs: ['203.0.113.7/24'] }),
    refused(/^ApiGateway 'Gateway': CIDR '203\.0\.113\.7\/24' has host bits set after \/24/),
  ),
  row(
    'gateway/cors-star',
    'threw',
    gateway({ cors: { allowOrigins: ['*'] } }),
    refused(/^ApiGateway 'Gateway': CORS origin '\*' is a wildcard while credentials are allowed/),
  ),
  row(
    'gateway/cors-null',
    'threw',
    gateway({ cors: { allowOrigins: ['null'] } }),
    refused(/^ApiGateway 'Gateway': CORS origin 'null' must be an origin such as/),
  ),
  row(
    'gateway/body-limit-negative',
    'threw',
    gateway({ maxRequestBytes: -1 }),
    refused(/^ApiGateway 'Gateway': 'maxRequestBytes' \(-1\) must be a positive integer$/),
  ),
  row(
    'gateway/rate-limit-zero',
    'threw',
    gateway({ localRateLimit: { requestsPerSecond: 0 } }),
    refused(
      /^ApiGateway 'Gateway': 'localRateLimit\.requestsPerSecond' \(0\) must be an integer >= 1$/,
    ),
  ),
  row(
    'gateway/unknown-backend',
    'threw',
    gateway({ routes: [{ host: HOST, backend: 'ghost' }] }),
    refused(/^ApiGateway 'Gateway': route on 'shop\.example\.com' names unknown service 'ghost'/),
  ),
  row(
    'gateway/token-route-no-issuer',
    'threw',
    gateway({ issuer: undefined }),
    refused(/^ApiGateway 'Gateway': routes need a token \('front' \/api\/orders .*no 'issuer'/),
  ),
  row(
    'gateway/empty-selector',
    'threw',
    gateway({ selector: {} }),
    refused(/^ApiGateway 'Gateway': 'selector' is empty, which would select every workload$/),
  ),
  // realm
  row(
    'realm/master',
    'threw',
    realm({ name: 'master' }),
    refused(/^realm 'master': the 'master' realm cannot be imported/),
  ),
  row(
    'realm/redirect-wildcard-host',
    'threw',
    client('shop-web', { redirectUris: ['https://*.example.com/callback'] }),
    refused(
      /^realm 'shop': client 'shop-web': redirect URI 'https:\/\/\*\.example\.com\/callback' has a wildcard host/,
    ),
  ),
  row(
    'realm/redirect-star',
    'threw',
    client('shop-web', { redirectUris: ['https://shop.example.com/*'] }),
    refused(
      /^realm 'shop': client 'shop-web': redirect URI 'https:\/\/shop\.example\.com\/\*' has a wildcard/,
    ),
  ),
  row(
    'realm/redirect-http',
    'threw',
    client('shop-web', { redirectUris: ['http://shop.example.com/callback'] }),
    refused(
      /^realm 'shop': client 'shop-web': redirect URI 'http:\/\/shop\.example\.com\/callback' must use https/,
    ),
  ),
  row(
    'realm/public-client-secret',
    'threw',
    client('shop-web', { secret: { secretName: 'web-oauth', key: 'client-secret' } }),
    refused(/^realm 'shop': client 'shop-web': a public client has no 'secret'; remove it$/),
  ),
  row(
    'realm/confidential-no-secret',
    'threw',
    client('payment-reconciler', { secret: undefined }),
    refused(/^realm 'shop': client 'payment-reconciler': a confidential client needs 'secret'/),
  ),
  row(
    'realm/unknown-scope',
    'threw',
    client('shop-web', { optionalScopes: ['admin:write'] }),
    refused(/^realm 'shop': client 'shop-web': optional scope 'admin:write' is not a client scope/),
  ),
  row(
    'realm/no-sub-scope',
    'threw',
    client('shop-web', { defaultScopes: ['roles', 'shop-api-audience', 'profile'] }),
    refused(/^realm 'shop': client 'shop-web': no default scope maps 'sub'/),
  ),
  row(
    'realm/public-url-http',
    'threw',
    keycloak({ publicUrl: 'http://auth.shop.example.com' }),
    refused(/^Keycloak: 'publicUrl' \('http:\/\/auth\.shop\.example\.com'\) must be an https URL/),
  ),
  row(
    'realm/token-outlives-session',
    'threw',
    realm({ accessTokenLifespan: 3600 }),
    refused(
      /^realm 'shop': 'accessTokenLifespan' \(3600s\) must not exceed 'ssoSessionIdleTimeout' \(1800s\)/,
    ),
  ),

  // The review's 8 silently wider inputs: all refused now.
  row(
    'routes/shadowed-by-public',
    'wider',
    service({
      routes: [
        { methods: ['GET'], paths: ['/api/*'], public: true },
        { methods: ['GET'], paths: ['/api/admin/x'], roles: ['ADMIN'] },
      ],
    }),
    refused(
      /^MeshService 'front' route GET \/api\/admin\/x: conflicts with the route GET \/api\/\*: .*roles \[ADMIN\] and no token/,
    ),
  ),
  row(
    'paths/double-star',
    'wider',
    route({ paths: ['/{**}'] }),
    refused(/^MeshService 'front' route GET \/\{\*\*\}: path '\/\{\*\*\}' matches every path/),
  ),
  row(
    'roles/star',
    'wider',
    route({ roles: ['*'] }),
    refused(
      /^MeshService 'front' .*: 'roles' value '\*' has a '\*': Istio would read it as any value/,
    ),
  ),
  row(
    'roles/prefix',
    'wider',
    route({ roles: ['ADM*'] }),
    refused(
      /^MeshService 'front' .*: 'roles' value 'ADM\*' has a '\*': Istio would read it as a prefix/,
    ),
  ),
  row(
    'scopes/star',
    'wider',
    route({ roles: undefined, scopes: ['*'] }),
    refused(/^MeshService 'front' .*: 'scopes' value '\*' has a '\*'/),
  ),
  row(
    'clients/star',
    'wider',
    route({ roles: undefined, clients: ['*'] }),
    refused(/^MeshService 'front' .*: 'clients' value '\*' has a '\*'/),
  ),
  row(
    'callers/principal-star',
    'wider',
    direct('MeshService.allowFrom', { principal: '*' }, (chart) => {
      const anyone: IMeshIdentity = {
        identityName: 'anyone',
        namespace: 'shop',
        serviceAccountName: 'anyone',
        principal: '*',
      };
      new MeshService(chart, 'back', {
        namespace: 'shop',
        image: 'meshward/back:1.0.0',
        issuer: new JwtIssuer(chart, 'Issuer', issuer),
      }).allowFrom(anyone, { methods: ['GET'], paths: ['/api/payments'], roles: ['USER'] });
    }),
    refused(
      /^MeshService 'back' route GET \/api\/payments: caller 'anyone' has principal '\*', which is not one workload identity/,
    ),
  ),
  row(
    'realm/optional-scope-without-role',
    'wider',
    {
      construct: 'Keycloak + MeshService',
      props: {
        clientScope: 'admin:read',
        grantedToRoles: undefined,
        route: { scopes: ['admin:read'] },
      },
      synth: () =>
        synthApp((app) => {
          const kc = new Keycloak(new Chart(app, 'auth'), 'Keycloak', {
            ...shopKeycloak,
            realm: {
              ...shopRealm,
              clientScopes: shopRealm.clientScopes.map((s) =>
                s.name === 'admin:read' ? { ...s, grantedToRoles: undefined } : s,
              ),
            },
          });
          new MeshService(new Chart(app, 'shop'), 'front', {
            namespace: 'shop',
            image: 'meshward/front:1.0.0',
            issuer: kc,
            exposed: true,
          }).addRoute({
            methods: ['GET'],
            paths: ['/api/orders/admin/all'],
            scopes: ['admin:read'],
          });
        }),
    },
    refused(
      /Keycloak 'keycloak': MW207 AuthorizationPolicy shop\/front: scope 'admin:read' guards GET \/api\/orders\/admin\/all but any user of public client 'shop-web' can obtain it/,
    ),
  ),

  // The review's 4 dead rules.
  row(
    'paths/jsessionid',
    'dead rule',
    route({ paths: ['/api/orders;jsessionid=x'] }),
    failsClosed(
      "';' is an ordinary path character to Envoy and Express: the rule admits only that literal path (Express answers 404), never '/api/orders'",
      frontRules,
      [frontRule(['/api/orders;jsessionid=x'])],
    ),
  ),
  row(
    'paths/unicode',
    'dead rule',
    route({ paths: ['/api/café'] }),
    failsClosed(
      "Envoy answers 400 to a raw non-ASCII request target and matches '/api/caf%C3%A9' as written, so the literal 'café' never matches",
      frontRules,
      [frontRule(['/api/café'])],
    ),
  ),
  row(
    'paths/nul',
    'dead rule',
    route({ paths: ['/api/a\u0000b'] }),
    refused(
      // eslint-disable-next-line no-control-regex -- the input is a NUL
      /^MeshService 'front' route GET \/api\/a\u0000b: path '\/api\/a\u0000b' must not contain the control character U\+0000/,
    ),
  ),
  row(
    'scopes/space',
    'dead rule',
    route({ roles: undefined, scopes: ['admin read'] }),
    refused(/^MeshService 'front' .*: 'scopes' value 'admin read' contains white space/),
  ),

  // The review's 6 hygiene findings.
  row(
    'image/latest',
    'hygiene',
    service({ image: 'meshward/front:latest' }),
    refused(
      /^container 'front': 'image' \('meshward\/front:latest'\) must be pinned to a tag or digest, not latest$/,
    ),
  ),
  row(
    'image/untagged',
    'hygiene',
    service({ image: 'meshward/front' }),
    refused(
      /^container 'front': 'image' \('meshward\/front'\) must be pinned to a tag or digest, not untagged$/,
    ),
  ),
  row(
    'env/literal-secret',
    'hygiene',
    service({ env: { CLIENT_SECRET: 'hunter2' } }),
    refused(/^container 'front': env 'CLIENT_SECRET' holds a credential: reference a Secret/),
  ),
  row(
    'env/port',
    'hygiene',
    service({ env: { PORT: '9090' } }),
    refused(
      /^MeshService 'front': env 'PORT' \("9090"\) is set by the construct from 'port' \(8080\)/,
    ),
  ),
  row(
    'issuer/jwks-http-external',
    'hygiene',
    system({ issuer: { ...issuer, jwksUri: 'http://evil.example.com/certs' } }),
    refused(
      /^JwtIssuer 'Issuer': 'jwksUri' \('http:\/\/evil\.example\.com\/certs'\) is plain HTTP to 'evil\.example\.com', outside the cluster/,
    ),
  ),
  row(
    'gateway/cors-http',
    'hygiene',
    gateway({ cors: { allowOrigins: ['http://shop.example.com'] } }),
    refused(
      /^ApiGateway 'Gateway': CORS origin 'http:\/\/shop\.example\.com' \('cors\.allowOrigins'\) is not https/,
    ),
  ),

  // The review's 8 valid on purpose.
  row(
    'paths/upper-case',
    'valid',
    route({ paths: ['/API/Orders'] }),
    validOnPurpose(
      "Istio paths are case-sensitive and the route is exact: only '/API/Orders' is admitted, '/api/orders' is not",
      (objects) => {
        expect(frontRules(objects)).toEqual([frontRule(['/API/Orders'])]);
      },
    ),
  ),
  row(
    'paths/trailing-slash',
    'valid',
    route({ paths: ['/api/orders/'] }),
    validOnPurpose(
      "an exact path that ends in '/' is that path only, not the sub-tree '/api/orders/*'",
      (objects) => {
        expect(frontRules(objects)).toEqual([frontRule(['/api/orders/'])]);
      },
    ),
  ),
  row(
    'paths/one-segment',
    'valid',
    route({ paths: ['/api/orders/{*}'] }),
    validOnPurpose(
      "'{*}' is exactly one non-empty segment: '/api/orders/x', never '/api/orders/x/y' ('{**}') or '/api/orders'",
      (objects) => {
        expect(frontRules(objects)).toEqual([frontRule(['/api/orders/{*}'])]);
      },
    ),
  ),
  row(
    'scale/2000-routes',
    'valid',
    service({
      routes: Array.from({ length: 2000 }, (_, i) => ({
        methods: ['GET' as const],
        paths: [`/api/r${i}`],
        roles: ['USER'],
      })),
    }),
    validOnPurpose(
      '2000 disjoint routes are 2000 rules, each as narrow as its route',
      (objects) => {
        expect(frontRules(objects)).toEqual(
          Array.from({ length: 2000 }, (_, i) => frontRule([`/api/r${i}`])),
        );
      },
    ),
  ),
  row(
    'scale/5000-roles',
    'valid',
    route({ roles: Array.from({ length: 5000 }, (_, i) => `ROLE_${i}`) }),
    validOnPurpose('5000 roles are one condition that lists each role exactly', (objects) => {
      expect(frontRules(objects)).toEqual([
        frontRule(
          ['/api/orders'],
          Array.from({ length: 5000 }, (_, i) => `ROLE_${i}`),
        ),
      ]);
    }),
  ),
  // Valid on purpose in the review; refused since allowedCidrs may not admit a private range (M2).
  row(
    'gateway/cidr-any',
    'valid',
    gateway({ allowedCidrs: ['0.0.0.0/0'] }),
    refused(
      /^ApiGateway 'Gateway': 'allowedCidrs' entry '0\.0\.0\.0\/0' admits the whole private range '10\.0\.0\.0\/8'/,
    ),
  ),
  row(
    'gateway/public-only',
    'valid',
    gateway(
      { issuer: undefined },
      {
        ...base,
        issuer: undefined,
        services: [
          { ...front, routes: [{ methods: ['GET'], paths: ['/api/public/*'], public: true }] },
        ],
      },
    ),
    validOnPurpose(
      'a gateway whose routes are all public needs no issuer: its one ALLOW rule names the host, the method and the paths, and the rest of the host stays denied',
      (objects) => {
        const edge = objects.filter((o) => o.metadata.namespace === 'istio-system');
        expect(edge.filter((o) => o.kind === 'RequestAuthentication')).toEqual([]);
        expect(
          edge.filter((o) => o.kind === 'AuthorizationPolicy').map((o) => o.metadata.name),
        ).toEqual(['meshward-gateway-access']);
        expect(
          find(objects, 'AuthorizationPolicy', 'istio-system', 'meshward-gateway-access').spec
            .rules,
        ).toEqual([
          {
            to: [
              {
                operation: {
                  hosts: [HOST, `${HOST}:*`],
                  methods: ['GET'],
                  paths: ['/api/public/*'],
                },
              },
            ],
          },
        ]);
      },
    ),
  ),
  row(
    'realm/brute-force-off',
    'valid',
    realm({ bruteForceProtected: false }),
    validOnPurpose(
      "an operator's choice (lockout done by an upstream IdP or WAF), written into the realm; no client has the password grant, so guesses still go through the login page",
      (objects) => {
        const json = realmJson(objects);
        expect(json.bruteForceProtected).toBe(false);
        expect(json.clients.map((c: any) => [c.clientId, c.directAccessGrantsEnabled])).toEqual([
          ['shop-web', false],
          ['payment-reconciler', false],
          ['admin-cli', false],
        ]);
      },
    ),
  ),
];

/** Text that means an input reached code that never expected it. */
const RAW_ERROR =
  /TypeError|Cannot read propert|is not a function|is not iterable|\[object Object\]/;

function thrown(synth: () => unknown): Error {
  try {
    synth();
  } catch (e) {
    return e as Error;
  }
  throw new Error('synthesized, but the row expects it to be refused');
}

describe('bad inputs to the constructs (red-team catalog)', () => {
  test.each(rows.filter((r) => r.outcome === 'refused'))(
    'throws when given $id, naming the construct, the property and the value',
    (r) => {
      // WHEN
      const error = thrown(r.input.synth);
      // THEN
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(TypeError);
      expect(error.message).toMatch(r.error);
      expect(error.message).not.toMatch(RAW_ERROR);
    },
  );

  test.each(rows.filter((r) => r.outcome === 'valid on purpose'))(
    '$id is valid on purpose: $reason',
    (r) => {
      // WHEN
      const objects = r.input.synth();
      // THEN
      expect(r.reason).not.toBe('');
      r.safe(objects);
    },
  );

  test.each(rows.filter((r) => r.outcome === 'fails closed'))('$id fails closed: $reason', (r) => {
    // WHEN
    const objects = r.input.synth();
    // THEN the rule is exactly the one that never matches, and nothing wider
    expect(r.rendered(objects)).toEqual(r.exactly);
  });
});

describe('the catalog', () => {
  test('has the review’s 87 inputs: 61 threw; of the 26 that synthesized, 8 wider, 4 dead rules, 6 hygiene, 8 valid', () => {
    const count = (review: Review) => rows.filter((r) => r.review === review).length;
    expect(rows).toHaveLength(87);
    expect(new Set(rows.map((r) => r.id)).size).toBe(87);
    expect([
      count('threw'),
      count('wider'),
      count('dead rule'),
      count('hygiene'),
      count('valid'),
    ]).toEqual([61, 8, 4, 6, 8]);
  });

  test('counts the rows by outcome today', () => {
    const count = (outcome: Outcome['outcome']) => rows.filter((r) => r.outcome === outcome).length;
    expect({
      refused: count('refused'),
      'valid on purpose': count('valid on purpose'),
      'fails closed': count('fails closed'),
    }).toEqual({ refused: 78, 'valid on purpose': 7, 'fails closed': 2 });
  });

  test('no row is silently wider: every input is refused, valid on purpose with a reason, or fails closed', () => {
    const outcomes = new Set(rows.map((r) => r.outcome));
    expect([...outcomes].sort()).toEqual(['fails closed', 'refused', 'valid on purpose']);
    for (const r of rows) {
      if (r.outcome === 'refused') expect(r.error).toBeInstanceOf(RegExp);
      else expect(r.reason.trim()).not.toBe('');
    }
  });
});
