/**
 * A Keycloak realm as typed data, its validation and its rendering to the realm
 * import JSON (`RealmRepresentation`) that `kc.sh start --import-realm` reads from
 * `/opt/keycloak/data/import`.
 *
 * Secrets never appear in the JSON: client secrets and user passwords are written as
 * `${ENV_VAR}` placeholders, which Keycloak resolves from its environment at import
 * time; the environment variables come from Secrets by reference (`realmSecretEnv`).
 *
 * @see https://www.keycloak.org/server/importExport
 * @see https://www.keycloak.org/docs-api/latest/rest-api/index.html#RealmRepresentation
 */

/** A key of a Kubernetes Secret. */
export interface RealmSecretRef {
  readonly secretName: string;
  readonly key: string;
}

export interface RealmRole {
  readonly name: string;
  /** @default - none */
  readonly description?: string;
}

/**
 * What a client scope puts into tokens. Each maps to one Keycloak protocol mapper:
 * - `subject`: `sub` (`oidc-sub-mapper`). Keycloak ≥ 25 omits `sub` from access
 *   tokens unless a scope carries it, and Istio's `requestPrincipals` then never match.
 * - `auth-time`: `auth_time` (`oidc-usersessionmodel-note-mapper`).
 * - `realm-roles`: realm roles to `realm_access.roles` (`oidc-usermodel-realm-role-mapper`),
 *   in the access token, or with `token: 'id'` only in the ID token (what a client app shows).
 * - `audience`: adds `audience` to `aud` of access tokens (`oidc-audience-mapper`).
 * - `username`: `preferred_username` in the ID token (`oidc-usermodel-attribute-mapper`).
 * - `full-name`: `name` in the ID token (`oidc-full-name-mapper`).
 */
export type RealmClaimMapper =
  | { readonly type: 'subject' }
  | { readonly type: 'auth-time' }
  | {
      readonly type: 'realm-roles';
      /** The token that carries the roles. @default 'access' */
      readonly token?: 'access' | 'id';
    }
  | { readonly type: 'audience'; readonly audience: string }
  | { readonly type: 'username' }
  | { readonly type: 'full-name' };

export interface RealmClientScope {
  /** The scope name, as clients request it and as the `scope` claim carries it. */
  readonly name: string;
  /** @default - none */
  readonly description?: string;
  /** Whether the name appears in the token's `scope` claim. @default true */
  readonly includeInTokenScope?: boolean;
  /** @default - none */
  readonly mappers?: readonly RealmClaimMapper[];
  /**
   * Only users (and service accounts) holding one of these realm roles get the scope; rendered
   * as the scope's role scope mappings. Without it, anyone who can use a client the scope is
   * assigned to can obtain it — so a scope that guards a route must name roles here, or the
   * route must also require a role (`meshward lint` MW207 and synth refuse otherwise).
   * @default - everyone who can use the client
   * @see https://www.keycloak.org/docs/latest/server_admin/#_client_scopes_permissions
   */
  readonly grantedToRoles?: readonly string[];
}

/** The OAuth2 grants a client may use. `refresh_token` follows from the others. */
export type RealmOAuthFlow = 'authorization-code' | 'client-credentials';

export interface RealmClient {
  readonly clientId: string;
  /** @default - the client id */
  readonly name?: string;
  /** @default - none */
  readonly description?: string;
  /**
   * A public client (a browser or mobile app) holds no secret; a confidential one
   * authenticates with `secret`.
   */
  readonly public: boolean;
  /**
   * The grants the client may use. `authorization-code` always requires PKCE with
   * S256; the password grant (direct access grants) and the implicit flow are never
   * enabled.
   */
  readonly flows: readonly RealmOAuthFlow[];
  /** The client secret (confidential clients only), by Secret reference. */
  readonly secret?: RealmSecretRef;
  /** Exact redirect URIs (authorization code flow). No wildcards. @default - none */
  readonly redirectUris?: readonly string[];
  /** Exact URIs allowed after logout. @default - none */
  readonly postLogoutRedirectUris?: readonly string[];
  /** Exact CORS origins (`https://shop.example.com`). @default - none */
  readonly webOrigins?: readonly string[];
  /** @default - none */
  readonly rootUrl?: string;
  /** Scopes in every token of the client. Must include a scope with a `subject` mapper. */
  readonly defaultScopes: readonly string[];
  /** Scopes the client may request (`scope=admin:read`). @default - none */
  readonly optionalScopes?: readonly string[];
  /**
   * Realm roles of the client's service account (`client-credentials` only): exactly these,
   * never the realm's default role (the service account is rendered into the realm). @default - none
   */
  readonly serviceAccountRoles?: readonly string[];
}

/** A kind of user of the realm, by the realm roles such users hold. */
export interface RealmUserClassSpec {
  /** A name for the access matrix and messages, e.g. `customer`. */
  readonly name: string;
  readonly realmRoles: readonly string[];
}

/** A demo user, rendered only in `dev` mode. */
export interface RealmUser {
  readonly username: string;
  /** Keycloak's user profile requires email, first and last name, else login asks for them. */
  readonly email: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly realmRoles: readonly string[];
  /** The password, by Secret reference. */
  readonly password: RealmSecretRef;
}

export interface RealmSpec {
  /** The realm name, part of the issuer URL (`<base>/realms/<name>`). */
  readonly name: string;
  /** @default - the name */
  readonly displayName?: string;
  readonly roles: readonly RealmRole[];
  /**
   * Every client scope of the realm. An import that lists client scopes gets none of
   * Keycloak's built-in ones (`basic`, `roles`, `profile`, ...), so list all that the
   * clients use.
   */
  readonly clientScopes: readonly RealmClientScope[];
  readonly clients: readonly RealmClient[];
  /** Demo users, imported only in `dev` mode. @default - none */
  readonly devUsers?: readonly RealmUser[];
  /**
   * The kinds of users the realm holds, by their realm roles (`customer` = `['USER']`). The
   * access matrix has one column per kind and the realm ↔ policy contract checks that every
   * role a route needs is held by one; a production realm (which imports no users) needs them.
   * With `devUsers`, each demo user's roles must be one of the classes.
   * @default - the role sets of `devUsers`
   */
  readonly userClasses?: readonly RealmUserClassSpec[];
  /** Access token lifetime in seconds. @default 300 */
  readonly accessTokenLifespan?: number;
  /** SSO session idle timeout in seconds (also bounds refresh tokens). @default 1800 */
  readonly ssoSessionIdleTimeout?: number;
  /** SSO session maximum lifetime in seconds. @default 36000 */
  readonly ssoSessionMaxLifespan?: number;
  /** Rotate refresh tokens: a used refresh token is refused. @default true */
  readonly revokeRefreshToken?: boolean;
  /** How often a refresh token may be reused when rotation is on. @default 0 */
  readonly refreshTokenMaxReuse?: number;
  /** Lock accounts temporarily after repeated login failures. @default true */
  readonly bruteForceProtected?: boolean;
  /** `external`: TLS required except from private addresses; `all`: always. @default 'external' */
  readonly sslRequired?: 'external' | 'all';
}

/** Where a realm's endpoints are: the public base URL (`KC_HOSTNAME`) and the in-cluster Service. */
export interface KeycloakLocation {
  /** The public base URL, e.g. `https://auth.shop.example.com`; the issuer is derived from it. */
  readonly publicUrl: string;
  /** @default 'auth' */
  readonly namespace?: string;
  /** @default 'keycloak' */
  readonly serviceName?: string;
  /** @default 8080 */
  readonly port?: number;
}

export interface RealmEndpoints {
  /** The `iss` claim, identical in-cluster and through the gateway (`KC_HOSTNAME`). */
  readonly issuer: string;
  /** The in-cluster JWKS URL (what istiod and the services fetch). */
  readonly jwksUri: string;
  /** The in-cluster token endpoint (what service clients call). */
  readonly tokenUrl: string;
  /** The public authorization endpoint (what browsers are sent to). */
  readonly authorizationUrl: string;
  /** The in-cluster base URL of the realm. */
  readonly internalRealmUrl: string;
}

/** The one place the issuer and the endpoint URLs of a realm are derived. */
export function realmEndpoints(realmName: string, location: KeycloakLocation): RealmEndpoints {
  const base = normalizeBaseUrl('Keycloak', 'publicUrl', location.publicUrl);
  const host = `${location.serviceName ?? 'keycloak'}.${location.namespace ?? 'auth'}.svc.cluster.local`;
  const internal = `http://${host}:${location.port ?? 8080}/realms/${realmName}`;
  const issuer = `${base}/realms/${realmName}`;
  return {
    issuer,
    jwksUri: `${internal}/protocol/openid-connect/certs`,
    tokenUrl: `${internal}/protocol/openid-connect/token`,
    authorizationUrl: `${issuer}/protocol/openid-connect/auth`,
    internalRealmUrl: internal,
  };
}

/** An https URL with no path, query or trailing slash. */
function normalizeBaseUrl(owner: string, prop: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${owner}: '${prop}' ('${value}') is not a URL`);
  }
  if (url.protocol !== 'https:') {
    throw new Error(
      `${owner}: '${prop}' ('${value}') must be an https URL (tokens travel over it)`,
    );
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new Error(`${owner}: '${prop}' ('${value}') must be a bare origin without path or query`);
  }
  return url.origin;
}

/** The realm with every default applied, after validation. @internal */
export interface ResolvedRealm extends Required<Omit<RealmSpec, 'displayName' | 'userClasses'>> {
  readonly userClasses: readonly RealmUserClassSpec[];
  readonly displayName: string;
}

const CLIENT_ID = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const SCOPE_NAME = /^[A-Za-z0-9][A-Za-z0-9:._-]*$/;
const ROLE_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const USERNAME = /^[a-z0-9][a-z0-9._-]*$/;
const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * Checks a realm and applies its defaults. Every error names the realm, the item and
 * the value, so a bad realm fails at synth time rather than at import or login.
 */
export function validateRealm(spec: RealmSpec): ResolvedRealm {
  const owner = `realm '${spec.name}'`;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(spec.name)) {
    throw new Error(`${owner}: 'name' ('${spec.name}') must be lower-case letters, digits or '-'`);
  }
  if (spec.name === 'master') {
    throw new Error(
      `${owner}: the 'master' realm cannot be imported; name the realm after the system`,
    );
  }

  const roles = uniqueNames(
    owner,
    'role',
    spec.roles.map((r) => r.name),
  );
  for (const role of roles) {
    if (!ROLE_NAME.test(role)) throw new Error(`${owner}: role '${role}' is not a valid role name`);
  }
  const scopes = uniqueNames(
    owner,
    'client scope',
    spec.clientScopes.map((s) => s.name),
  );
  for (const scope of spec.clientScopes) validateScope(owner, scope, roles);
  uniqueNames(
    owner,
    'client',
    spec.clients.map((c) => c.clientId),
  );
  for (const client of spec.clients)
    validateClient(owner, client, roles, scopes, spec.clientScopes);
  const users = spec.devUsers ?? [];
  uniqueNames(
    owner,
    'user',
    users.map((u) => u.username),
  );
  for (const user of users) validateUser(owner, user, roles);
  const userClasses = spec.userClasses ?? [];
  uniqueNames(
    owner,
    'user class',
    userClasses.map((c) => c.name),
  );
  for (const c of userClasses) validateUserClass(owner, c, roles);
  if (userClasses.length > 0) {
    const sets = userClasses.map((c) => roleSetKey(c.realmRoles));
    for (const user of users) {
      if (!sets.includes(roleSetKey(user.realmRoles))) {
        throw new Error(
          `${owner}: user '${user.username}' holds [${user.realmRoles.join(', ')}], which is no user class (${userClasses.map((c) => `${c.name}: [${c.realmRoles.join(', ')}]`).join('; ')})`,
        );
      }
    }
  }

  const accessTokenLifespan = spec.accessTokenLifespan ?? 300;
  const ssoSessionIdleTimeout = spec.ssoSessionIdleTimeout ?? 1800;
  const ssoSessionMaxLifespan = spec.ssoSessionMaxLifespan ?? 36000;
  const refreshTokenMaxReuse = spec.refreshTokenMaxReuse ?? 0;
  for (const [prop, value] of [
    ['accessTokenLifespan', accessTokenLifespan],
    ['ssoSessionIdleTimeout', ssoSessionIdleTimeout],
    ['ssoSessionMaxLifespan', ssoSessionMaxLifespan],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`${owner}: '${prop}' (${value}) must be a positive whole number of seconds`);
    }
  }
  if (accessTokenLifespan > ssoSessionIdleTimeout) {
    throw new Error(
      `${owner}: 'accessTokenLifespan' (${accessTokenLifespan}s) must not exceed 'ssoSessionIdleTimeout' (${ssoSessionIdleTimeout}s): an access token would outlive the session`,
    );
  }
  if (ssoSessionIdleTimeout > ssoSessionMaxLifespan) {
    throw new Error(
      `${owner}: 'ssoSessionIdleTimeout' (${ssoSessionIdleTimeout}s) must not exceed 'ssoSessionMaxLifespan' (${ssoSessionMaxLifespan}s)`,
    );
  }
  if (!Number.isInteger(refreshTokenMaxReuse) || refreshTokenMaxReuse < 0) {
    throw new Error(`${owner}: 'refreshTokenMaxReuse' (${refreshTokenMaxReuse}) must be 0 or more`);
  }

  return {
    name: spec.name,
    displayName: spec.displayName ?? spec.name,
    roles: spec.roles,
    clientScopes: spec.clientScopes,
    clients: spec.clients,
    devUsers: users,
    userClasses,
    accessTokenLifespan,
    ssoSessionIdleTimeout,
    ssoSessionMaxLifespan,
    revokeRefreshToken: spec.revokeRefreshToken ?? true,
    refreshTokenMaxReuse,
    bruteForceProtected: spec.bruteForceProtected ?? true,
    sslRequired: spec.sslRequired ?? 'external',
  };
}

function uniqueNames(owner: string, kind: string, names: readonly string[]): Set<string> {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new Error(`${owner}: ${kind} '${name}' is declared twice`);
    seen.add(name);
  }
  return seen;
}

const roleSetKey = (roles: readonly string[]): string => [...new Set(roles)].sort().join('\0');

function validateUserClass(
  realmOwner: string,
  userClass: RealmUserClassSpec,
  roles: ReadonlySet<string>,
): void {
  const owner = `${realmOwner}: user class '${userClass.name}'`;
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/.test(userClass.name)) {
    throw new Error(`${owner}: 'name' must be letters, digits, ' ', '.', '_' or '-'`);
  }
  for (const role of userClass.realmRoles) {
    if (!roles.has(role)) {
      throw new Error(
        `${owner}: role '${role}' is not a realm role (defined: ${[...roles].join(', ')})`,
      );
    }
  }
}

function validateScope(owner: string, scope: RealmClientScope, roles: ReadonlySet<string>): void {
  if (!SCOPE_NAME.test(scope.name)) {
    throw new Error(`${owner}: client scope '${scope.name}' is not a valid scope name`);
  }
  if (scope.grantedToRoles !== undefined) {
    if (scope.grantedToRoles.length === 0) {
      throw new Error(
        `${owner}: client scope '${scope.name}': 'grantedToRoles' is empty (an empty list would grant the scope to everyone); name roles or remove it`,
      );
    }
    for (const role of scope.grantedToRoles) {
      if (!roles.has(role)) {
        throw new Error(
          `${owner}: client scope '${scope.name}': 'grantedToRoles' names '${role}', which is not a realm role (defined: ${[...roles].join(', ')})`,
        );
      }
    }
  }
  for (const mapper of scope.mappers ?? []) {
    if (mapper.type === 'audience' && !/^[A-Za-z0-9][A-Za-z0-9:._/-]*$/.test(mapper.audience)) {
      throw new Error(
        `${owner}: client scope '${scope.name}': audience '${mapper.audience}' is not a valid audience`,
      );
    }
  }
}

function validateClient(
  realmOwner: string,
  client: RealmClient,
  roles: ReadonlySet<string>,
  scopes: ReadonlySet<string>,
  scopeSpecs: readonly RealmClientScope[],
): void {
  const owner = `${realmOwner}: client '${client.clientId}'`;
  if (!CLIENT_ID.test(client.clientId)) {
    throw new Error(`${owner}: 'clientId' must be lower-case letters, digits or '-'`);
  }
  if (BUILT_IN_CLIENTS.includes(client.clientId)) {
    throw new Error(
      `${owner}: '${client.clientId}' is one of Keycloak's built-in clients (${BUILT_IN_CLIENTS.join(', ')}); name the client after what it is`,
    );
  }
  if (client.flows.length === 0) {
    throw new Error(`${owner}: 'flows' is empty; name the grants the client uses`);
  }
  const flows = new Set(client.flows);
  if (client.public) {
    if (flows.has('client-credentials')) {
      throw new Error(
        `${owner}: a public client cannot use the 'client-credentials' flow (it has no secret to authenticate with)`,
      );
    }
    if (client.secret) throw new Error(`${owner}: a public client has no 'secret'; remove it`);
  } else if (!client.secret) {
    throw new Error(`${owner}: a confidential client needs 'secret' (a Secret reference)`);
  }
  if (client.secret) validateSecretRef(owner, 'secret', client.secret);

  const redirects = client.redirectUris ?? [];
  if (flows.has('authorization-code') && redirects.length === 0) {
    throw new Error(`${owner}: the 'authorization-code' flow needs at least one redirect URI`);
  }
  if (!flows.has('authorization-code') && redirects.length > 0) {
    throw new Error(`${owner}: redirect URIs are only for the 'authorization-code' flow`);
  }
  for (const uri of [...redirects, ...(client.postLogoutRedirectUris ?? [])]) {
    validateRedirectUri(owner, uri);
  }
  for (const origin of client.webOrigins ?? []) validateOrigin(owner, origin);
  if (client.rootUrl !== undefined) validateRedirectUri(owner, client.rootUrl);

  const optional = client.optionalScopes ?? [];
  for (const [kind, list] of [
    ['default', client.defaultScopes],
    ['optional', optional],
  ] as const) {
    for (const scope of list) {
      if (!scopes.has(scope)) {
        throw new Error(
          `${owner}: ${kind} scope '${scope}' is not a client scope of the realm (defined: ${[...scopes].join(', ')})`,
        );
      }
    }
  }
  const both = client.defaultScopes.filter((s) => optional.includes(s));
  if (both.length > 0) {
    throw new Error(`${owner}: scope '${both[0]}' is both a default and an optional scope`);
  }
  const carriesSubject = client.defaultScopes.some((name) =>
    scopeSpecs.find((s) => s.name === name)?.mappers?.some((m) => m.type === 'subject'),
  );
  if (!carriesSubject) {
    throw new Error(
      `${owner}: no default scope maps 'sub' (add the 'basic' scope): without 'sub' Istio's requestPrincipals never match its tokens`,
    );
  }

  const accountRoles = client.serviceAccountRoles ?? [];
  if (accountRoles.length > 0 && !flows.has('client-credentials')) {
    throw new Error(
      `${owner}: 'serviceAccountRoles' need the 'client-credentials' flow (the service account)`,
    );
  }
  for (const role of accountRoles) {
    if (!roles.has(role)) {
      throw new Error(
        `${owner}: service-account role '${role}' is not a realm role (defined: ${[...roles].join(', ')})`,
      );
    }
  }
}

function validateRedirectUri(owner: string, uri: string): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new Error(`${owner}: redirect URI '${uri}' is not an absolute URL`);
  }
  const rawHost = uri.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split(/[/?#]/)[0] ?? '';
  if (rawHost.includes('*') || url.hostname.includes('*')) {
    throw new Error(
      `${owner}: redirect URI '${uri}' has a wildcard host; name each host exactly (a wildcard host lets any matching site receive authorization codes)`,
    );
  }
  if (uri.includes('*')) {
    throw new Error(`${owner}: redirect URI '${uri}' has a wildcard; redirect URIs must be exact`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new Error(`${owner}: redirect URI '${uri}' must use https (http only for localhost)`);
  }
  if (url.hash !== '') throw new Error(`${owner}: redirect URI '${uri}' must not have a fragment`);
}

function validateOrigin(owner: string, origin: string): void {
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    url = undefined;
  }
  if (!url || url.origin !== origin || origin.includes('*')) {
    throw new Error(
      `${owner}: web origin '${origin}' must be an exact origin like 'https://shop.example.com'`,
    );
  }
}

function validateUser(realmOwner: string, user: RealmUser, roles: ReadonlySet<string>): void {
  const owner = `${realmOwner}: user '${user.username}'`;
  if (!USERNAME.test(user.username)) {
    throw new Error(`${owner}: 'username' must be lower-case letters, digits, '.', '_' or '-'`);
  }
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(user.email)) {
    throw new Error(`${owner}: 'email' ('${user.email}') is not an email address`);
  }
  for (const [prop, value] of [
    ['firstName', user.firstName],
    ['lastName', user.lastName],
  ] as const) {
    if (value.trim() === '') throw new Error(`${owner}: '${prop}' is empty`);
  }
  for (const role of user.realmRoles) {
    if (!roles.has(role)) {
      throw new Error(
        `${owner}: role '${role}' is not a realm role (defined: ${[...roles].join(', ')})`,
      );
    }
  }
  validateSecretRef(owner, 'password', user.password);
}

function validateSecretRef(owner: string, prop: string, ref: RealmSecretRef): void {
  if (!SECRET_NAME.test(ref.secretName)) {
    throw new Error(
      `${owner}: '${prop}' Secret name '${ref.secretName}' is not a valid Secret name`,
    );
  }
  if (!SECRET_KEY.test(ref.key)) {
    throw new Error(`${owner}: '${prop}' Secret key '${ref.key}' is not a valid Secret key`);
  }
}

/** The environment variable a placeholder in the realm JSON reads. */
const envName = (...parts: string[]): string =>
  parts
    .join('_')
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_');

/** `SHOP_CLIENT_PAYMENT_RECONCILER_SECRET`: the variable holding a client's secret. */
export function clientSecretEnv(realmName: string, clientId: string): string {
  return envName(realmName, 'client', clientId, 'secret');
}

/** `SHOP_USER_ALICE_PASSWORD`: the variable holding a demo user's password. */
export function userPasswordEnv(realmName: string, username: string): string {
  return envName(realmName, 'user', username, 'password');
}

/**
 * The environment variables the realm JSON's placeholders read, each from a Secret
 * key. Keycloak's container needs exactly these (plus its own settings); a test or
 * the deploy tooling sets them from the named Secrets.
 */
export function realmSecretEnv(
  realm: RealmSpec,
  options: { readonly includeDevUsers: boolean },
): Record<string, RealmSecretRef> {
  const env: Record<string, RealmSecretRef> = {};
  for (const client of realm.clients) {
    if (client.secret) env[clientSecretEnv(realm.name, client.clientId)] = client.secret;
  }
  if (options.includeDevUsers) {
    for (const user of realm.devUsers ?? []) {
      env[userPasswordEnv(realm.name, user.username)] = user.password;
    }
  }
  return env;
}

const placeholder = (name: string): string => '${' + name + '}';
const bool = (b: boolean): string => (b ? 'true' : 'false');

function renderMapper(mapper: RealmClaimMapper): Record<string, unknown> {
  const base = { protocol: 'openid-connect' };
  switch (mapper.type) {
    case 'subject':
      return {
        name: 'sub',
        ...base,
        protocolMapper: 'oidc-sub-mapper',
        config: { 'access.token.claim': 'true', 'introspection.token.claim': 'true' },
      };
    case 'auth-time':
      return {
        name: 'auth_time',
        ...base,
        protocolMapper: 'oidc-usersessionmodel-note-mapper',
        config: {
          'user.session.note': 'AUTH_TIME',
          'claim.name': 'auth_time',
          'jsonType.label': 'long',
          'id.token.claim': 'true',
          'access.token.claim': 'true',
          'introspection.token.claim': 'true',
        },
      };
    case 'realm-roles': {
      const id = mapper.token === 'id';
      return {
        name: id ? 'realm roles in the ID token' : 'realm roles',
        ...base,
        protocolMapper: 'oidc-usermodel-realm-role-mapper',
        config: {
          'claim.name': 'realm_access.roles',
          'jsonType.label': 'String',
          multivalued: 'true',
          'access.token.claim': bool(!id),
          'id.token.claim': bool(id),
          'userinfo.token.claim': 'false',
          'introspection.token.claim': bool(!id),
        },
      };
    }
    case 'username':
      return {
        name: 'username',
        ...base,
        protocolMapper: 'oidc-usermodel-attribute-mapper',
        config: {
          'user.attribute': 'username',
          'claim.name': 'preferred_username',
          'jsonType.label': 'String',
          'access.token.claim': 'false',
          'id.token.claim': 'true',
          'userinfo.token.claim': 'true',
          'introspection.token.claim': 'false',
        },
      };
    case 'full-name':
      return {
        name: 'full name',
        ...base,
        protocolMapper: 'oidc-full-name-mapper',
        config: {
          'access.token.claim': 'false',
          'id.token.claim': 'true',
          'userinfo.token.claim': 'true',
          'introspection.token.claim': 'false',
        },
      };
    case 'audience':
      return {
        name: `audience ${mapper.audience}`,
        ...base,
        protocolMapper: 'oidc-audience-mapper',
        config: {
          'included.custom.audience': mapper.audience,
          'access.token.claim': 'true',
          'id.token.claim': 'false',
          'introspection.token.claim': 'true',
        },
      };
  }
}

function renderClient(realm: ResolvedRealm, client: RealmClient): Record<string, unknown> {
  const flows = new Set(client.flows);
  const code = flows.has('authorization-code');
  const serviceAccount = flows.has('client-credentials');
  const attributes: Record<string, string> = {
    'oauth2.device.authorization.grant.enabled': 'false',
    'oidc.ciba.grant.enabled': 'false',
    'backchannel.logout.session.required': 'true',
    'use.refresh.tokens': bool(code),
    'client_credentials.use_refresh_token': 'false',
  };
  if (code) attributes['pkce.code.challenge.method'] = 'S256';
  if (client.postLogoutRedirectUris?.length) {
    attributes['post.logout.redirect.uris'] = client.postLogoutRedirectUris.join('##');
  }
  return {
    clientId: client.clientId,
    name: client.name ?? client.clientId,
    ...(client.description ? { description: client.description } : {}),
    enabled: true,
    protocol: 'openid-connect',
    publicClient: client.public,
    bearerOnly: false,
    consentRequired: false,
    ...(client.public
      ? {}
      : {
          clientAuthenticatorType: 'client-secret',
          secret: placeholder(clientSecretEnv(realm.name, client.clientId)),
        }),
    standardFlowEnabled: code,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    serviceAccountsEnabled: serviceAccount,
    frontchannelLogout: true,
    fullScopeAllowed: true,
    ...(client.rootUrl ? { rootUrl: client.rootUrl, baseUrl: client.rootUrl } : {}),
    redirectUris: [...(client.redirectUris ?? [])],
    webOrigins: [...(client.webOrigins ?? [])],
    attributes,
    defaultClientScopes: [...client.defaultScopes],
    optionalClientScopes: [...(client.optionalScopes ?? [])],
  };
}

/**
 * Keycloak's built-in `admin-cli`, which it creates in every realm an import does not define
 * it in: a public client with the password grant on, reachable at the public token endpoint
 * (a scripted password oracle that skips the login page and PKCE). Rendered disabled, with
 * no flow; the shop's administrators use the master realm.
 */
const ADMIN_CLI = {
  clientId: 'admin-cli',
  enabled: false,
  publicClient: true,
  standardFlowEnabled: false,
  implicitFlowEnabled: false,
  directAccessGrantsEnabled: false,
  serviceAccountsEnabled: false,
  defaultClientScopes: [],
  optionalClientScopes: [],
};

/** Clients Keycloak creates itself; a realm spec cannot define them. */
const BUILT_IN_CLIENTS = [
  'admin-cli',
  'account',
  'account-console',
  'broker',
  'realm-management',
  'security-admin-console',
];

/**
 * The realm import JSON (a `RealmRepresentation`), as an object. Demo users are
 * included only when `includeDevUsers` is set; every client-credentials client's service account is
 * rendered as Keycloak exports them (a user with `serviceAccountClientId`). Users get
 * only the roles named (not the realm's `default-roles-<realm>` composite), so tokens
 * carry exactly the intended `realm_access.roles`.
 */
export function renderRealm(
  spec: RealmSpec,
  options: { readonly includeDevUsers: boolean },
): Record<string, unknown> {
  const realm = validateRealm(spec);
  // Every service account is rendered, even without roles: one Keycloak creates on its own
  // gets the realm's default role (offline_access, uma_authorization), which nothing needs.
  const serviceAccounts = realm.clients
    .filter((c) => c.flows.includes('client-credentials'))
    .map((c) => ({
      username: `service-account-${c.clientId}`,
      enabled: true,
      serviceAccountClientId: c.clientId,
      realmRoles: [...(c.serviceAccountRoles ?? [])],
    }));
  const demoUsers = options.includeDevUsers
    ? realm.devUsers.map((u) => ({
        username: u.username,
        enabled: true,
        email: u.email,
        emailVerified: true,
        firstName: u.firstName,
        lastName: u.lastName,
        credentials: [
          {
            type: 'password',
            value: placeholder(userPasswordEnv(realm.name, u.username)),
            temporary: false,
          },
        ],
        realmRoles: [...u.realmRoles],
        requiredActions: [],
      }))
    : [];
  const everyClientDefault = realm.clients.length
    ? realm.clients
        .map((c) => c.defaultScopes)
        .reduce((common, list) => common.filter((s) => list.includes(s)))
    : [];

  return {
    realm: realm.name,
    displayName: realm.displayName,
    enabled: true,
    sslRequired: realm.sslRequired,
    registrationAllowed: false,
    resetPasswordAllowed: false,
    rememberMe: false,
    editUsernameAllowed: false,
    loginWithEmailAllowed: true,
    duplicateEmailsAllowed: false,
    verifyEmail: false,
    bruteForceProtected: realm.bruteForceProtected,
    permanentLockout: false,
    failureFactor: 5,
    waitIncrementSeconds: 60,
    maxFailureWaitSeconds: 900,
    maxDeltaTimeSeconds: 43200,
    minimumQuickLoginWaitSeconds: 60,
    quickLoginCheckMilliSeconds: 1000,
    defaultSignatureAlgorithm: 'RS256',
    accessTokenLifespan: realm.accessTokenLifespan,
    accessCodeLifespan: 60,
    accessCodeLifespanLogin: 1800,
    ssoSessionIdleTimeout: realm.ssoSessionIdleTimeout,
    ssoSessionMaxLifespan: realm.ssoSessionMaxLifespan,
    revokeRefreshToken: realm.revokeRefreshToken,
    refreshTokenMaxReuse: realm.refreshTokenMaxReuse,
    roles: {
      realm: realm.roles.map((r) => ({
        name: r.name,
        ...(r.description ? { description: r.description } : {}),
        composite: false,
        clientRole: false,
      })),
    },
    clientScopes: realm.clientScopes.map((s) => ({
      name: s.name,
      ...(s.description ? { description: s.description } : {}),
      protocol: 'openid-connect',
      attributes: {
        'include.in.token.scope': bool(s.includeInTokenScope ?? true),
        'display.on.consent.screen': 'false',
      },
      protocolMappers: (s.mappers ?? []).map(renderMapper),
    })),
    defaultDefaultClientScopes: everyClientDefault,
    defaultOptionalClientScopes: [],
    scopeMappings: realm.clientScopes
      .filter((s) => (s.grantedToRoles ?? []).length > 0)
      .map((s) => ({ clientScope: s.name, roles: [...(s.grantedToRoles ?? [])] })),
    clients: [...realm.clients.map((c) => renderClient(realm, c)), ADMIN_CLI],
    users: [...serviceAccounts, ...demoUsers],
  };
}
