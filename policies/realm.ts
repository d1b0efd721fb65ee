/**
 * The shop's Keycloak realm, as data, and the one place the issuer and the
 * endpoint URLs are derived. `policies/shop.ts` takes SHOP_ISSUER, SHOP_JWKS_URI and
 * SHOP_TOKEN_URL from here; `charts/app.ts` builds the `auth` chart from `shopKeycloak`.
 *
 * Secrets the deploy tooling creates (random values when absent), by namespace:
 *   auth/keycloak-bootstrap-admin  keys `username`, `password`      (Keycloak's bootstrap admin)
 *   auth/payment-reconciler-oauth  key  `client-secret`             (client secret, realm import)
 *   shop/payment-reconciler-oauth  key  `client-secret`             (the same value, for the job)
 *   auth/keycloak-demo-users       keys `alice-password`, `admin-bob-password` (dev mode only)
 */
import {
  type KeycloakLocation,
  type KeycloakProps,
  MeshIdentity,
  type RealmSpec,
  realmEndpoints,
} from '../charts/lib/index.js';

/** Where the shop's Keycloak runs and the public base URL it is reached at (`KC_HOSTNAME`). */
export const SHOP_KEYCLOAK_LOCATION: KeycloakLocation = {
  publicUrl: 'https://auth.shop.example.com',
  namespace: 'auth',
  serviceName: 'keycloak',
  port: 8080,
};

/** The audience every shop API token must carry. */
export const SHOP_AUDIENCE = 'shop-api';
/** The shop's web front end: the only browser client. */
export const SHOP_WEB_ORIGIN = 'https://shop.example.com';
/** The OAuth2 client id of the web front end (`services/shop-web`). */
export const SHOP_WEB_CLIENT_ID = 'shop-web';
/** The path shop-web receives the authorization code on. */
export const SHOP_WEB_CALLBACK_PATH = '/callback';
/** The only redirect URI of shop-web (exact; Keycloak refuses any other). */
export const SHOP_WEB_REDIRECT_URI = `${SHOP_WEB_ORIGIN}${SHOP_WEB_CALLBACK_PATH}`;
/** Where Keycloak's end-session endpoint sends the browser after logout. */
export const SHOP_WEB_POST_LOGOUT_REDIRECT_URI = `${SHOP_WEB_ORIGIN}/`;

const demoUsersSecret = 'keycloak-demo-users';

export const shopRealm: RealmSpec = {
  name: 'shop',
  displayName: 'Shop',
  roles: [
    { name: 'USER', description: 'A customer: places and reads their own orders' },
    { name: 'ADMIN', description: 'Shop staff: administration routes' },
  ],
  clientScopes: [
    {
      name: 'basic',
      description: 'sub and auth_time: without sub, Istio requestPrincipals never match',
      includeInTokenScope: false,
      mappers: [{ type: 'subject' }, { type: 'auth-time' }],
    },
    {
      name: 'roles',
      description: 'Realm roles in realm_access.roles',
      includeInTokenScope: false,
      mappers: [{ type: 'realm-roles' }],
    },
    {
      name: 'shop-api-audience',
      description: `Puts ${SHOP_AUDIENCE} into aud`,
      includeInTokenScope: false,
      mappers: [{ type: 'audience', audience: SHOP_AUDIENCE }],
    },
    {
      name: 'profile',
      description:
        'preferred_username, name and the realm roles in the ID token (shop-web shows them)',
      includeInTokenScope: true,
      mappers: [{ type: 'username' }, { type: 'full-name' }, { type: 'realm-roles', token: 'id' }],
    },
    {
      name: 'admin:read',
      description: 'Read every order (GET /api/orders/admin/all)',
      includeInTokenScope: true,
      // Without role scope mappings Keycloak grants an optional scope to anyone who asks.
      grantedToRoles: ['ADMIN'],
    },
  ],
  clients: [
    {
      clientId: SHOP_WEB_CLIENT_ID,
      name: 'Shop web front end',
      public: true,
      flows: ['authorization-code'],
      rootUrl: SHOP_WEB_ORIGIN,
      redirectUris: [SHOP_WEB_REDIRECT_URI],
      postLogoutRedirectUris: [SHOP_WEB_POST_LOGOUT_REDIRECT_URI],
      webOrigins: [SHOP_WEB_ORIGIN],
      defaultScopes: ['basic', 'roles', 'shop-api-audience', 'profile'],
      optionalScopes: ['admin:read'],
    },
    {
      clientId: 'payment-reconciler',
      name: 'Payment reconciler job',
      description: 'Calls payment-service with its own client-credentials token (azp)',
      public: false,
      flows: ['client-credentials'],
      secret: { secretName: 'payment-reconciler-oauth', key: 'client-secret' },
      defaultScopes: ['basic', 'roles', 'shop-api-audience'],
    },
  ],
  // Who the shop's users are: customers and staff. The access matrix has a column for each.
  userClasses: [
    { name: 'customer', realmRoles: ['USER'] },
    { name: 'staff', realmRoles: ['USER', 'ADMIN'] },
  ],
  devUsers: [
    {
      username: 'alice',
      email: 'alice@shop.example.com',
      firstName: 'Alice',
      lastName: 'Customer',
      realmRoles: ['USER'],
      password: { secretName: demoUsersSecret, key: 'alice-password' },
    },
    {
      username: 'admin-bob',
      email: 'bob@shop.example.com',
      firstName: 'Bob',
      lastName: 'Admin',
      realmRoles: ['USER', 'ADMIN'],
      password: { secretName: demoUsersSecret, key: 'admin-bob-password' },
    },
  ],
  accessTokenLifespan: 300,
  ssoSessionIdleTimeout: 1800,
  ssoSessionMaxLifespan: 36000,
  revokeRefreshToken: true,
  refreshTokenMaxReuse: 0,
  bruteForceProtected: true,
  sslRequired: 'external',
};

const endpoints = realmEndpoints(shopRealm.name, SHOP_KEYCLOAK_LOCATION);

/** The public issuer: the `iss` of every token of the realm `shop`. */
export const SHOP_ISSUER = endpoints.issuer;
/** The in-cluster JWKS endpoint of the realm. */
export const SHOP_JWKS_URI = endpoints.jwksUri;
/** The in-cluster token endpoint (client credentials). */
export const SHOP_TOKEN_URL = endpoints.tokenUrl;

/** The shop's Keycloak: dev mode (H2, demo users) for kind and minikube. */
export const shopKeycloak: KeycloakProps = {
  ...SHOP_KEYCLOAK_LOCATION,
  mode: 'dev',
  realm: shopRealm,
  // A keycloak.conf file, not environment variables (red-team L8; the cluster scripts write
  // the key beside `username` and `password`).
  bootstrapAdmin: { secretName: 'keycloak-bootstrap-admin', configKey: 'keycloak.conf' },
  tokenCallers: [MeshIdentity.fromServiceAccount('shop', 'payment-reconciler')],
};
