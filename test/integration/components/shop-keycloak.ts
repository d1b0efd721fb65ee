/**
 * The tier's Keycloak as the shop deploys it: the realm synthesized into dist/, on the public
 * hostname and with the proxy headers the dist/ Deployment gives Keycloak (KC_HOSTNAME,
 * KC_PROXY_HEADERS; back channel on loopback), so that
 * its tokens carry the issuer the deployment's clients see. Logs users in through the
 * authorization-code + PKCE flow of the realm's public client.
 */
import { deploymentEnv } from './dist.js';
import { distRealms, resolvePlaceholder, startKeycloak, type Keycloak } from './keycloak.js';
import {
  authorize,
  clientCredentials,
  exchangeCode,
  pkcePair,
  tokensOf,
  type RealmEndpoint,
  type TokenSet,
} from './oidc.js';

export interface RealmJsonUser {
  readonly username: string;
  /** Set on a client's service account (not a person who logs in). */
  readonly serviceAccountClientId?: string;
  readonly realmRoles?: readonly string[];
  readonly credentials?: readonly { readonly type: string; readonly value: string }[];
}

export interface RealmJsonClient {
  readonly clientId: string;
  readonly publicClient?: boolean;
  readonly standardFlowEnabled?: boolean;
  readonly serviceAccountsEnabled?: boolean;
  readonly secret?: string;
  readonly redirectUris?: readonly string[];
  readonly attributes?: Readonly<Record<string, string>>;
  readonly optionalClientScopes?: readonly string[];
}

export interface RealmJson {
  readonly realm: string;
  readonly accessTokenLifespan?: number;
  readonly roles?: { readonly realm?: readonly { readonly name: string }[] };
  readonly clients?: readonly RealmJsonClient[];
  readonly users?: readonly RealmJsonUser[];
}

export interface ShopKeycloak {
  readonly keycloak: Keycloak;
  readonly realm: RealmJson;
  readonly endpoint: RealmEndpoint;
  /** The public client with the authorization-code flow and PKCE S256 (the web front end). */
  readonly webClient: RealmJsonClient;
  /** The realm's demo users: its users that are not a client's service account. */
  readonly demoUsers: readonly RealmJsonUser[];
  /** The demo user whose realm roles are exactly `roles` (order ignored). */
  user(roles: readonly string[]): RealmJsonUser;
  passwordOf(user: RealmJsonUser): string;
  /** Logs `user` in through the web client: authorize, login form, code, PKCE exchange. */
  login(user: RealmJsonUser, scope?: string): Promise<TokenSet>;
  /** A client-credentials token of a service-account client, with its secret from the environment. */
  clientToken(clientId: string): Promise<TokenSet>;
  stop(): Promise<void>;
}

export interface ShopKeycloakOptions {
  /**
   * Changes the realm before Keycloak imports it, e.g. shorter-lived access tokens:
   * `{ realm: (r) => ({ ...r, accessTokenLifespan: 40 }) }`.
   * @default - the realm of dist/ as it is
   */
  readonly realm?: (realm: RealmJson) => RealmJson;
}

/** The realm of dist/ (exactly one) and Keycloak's public URL from its dist/ Deployment. */
export async function startShopKeycloak(options: ShopKeycloakOptions = {}): Promise<ShopKeycloak> {
  const dist = distRealms();
  const entries = Object.entries(dist);
  const [file, text] = entries.at(0) ?? [];
  if (file === undefined || text === undefined || entries.length !== 1) {
    throw new Error(`expected one realm in dist/, found ${String(entries.length)}`);
  }
  const parsed = JSON.parse(text) as RealmJson;
  const realm = options.realm === undefined ? parsed : options.realm(parsed);
  // Without a transform Keycloak imports dist/'s file byte for byte.
  const realms = options.realm === undefined ? dist : { [file]: JSON.stringify(realm) };
  const keycloakEnv = new Map(Object.entries(deploymentEnv('auth', 'keycloak')));
  const publicUrl = keycloakEnv.get('KC_HOSTNAME');
  if (publicUrl === undefined) throw new Error('the dist/ Keycloak Deployment sets no KC_HOSTNAME');
  const webClient = realm.clients?.find(
    (c) =>
      c.publicClient === true &&
      c.standardFlowEnabled === true &&
      c.attributes?.['pkce.code.challenge.method'] === 'S256',
  );
  if (webClient === undefined) {
    throw new Error(`realm ${realm.realm} has no public client with PKCE S256`);
  }
  const redirectUri = webClient.redirectUris?.[0];
  if (redirectUri === undefined) throw new Error(`${webClient.clientId} has no redirect URI`);

  const proxyHeaders = keycloakEnv.get('KC_PROXY_HEADERS');
  const proxyTrustedAddresses = keycloakEnv.get('KC_PROXY_TRUSTED_ADDRESSES');
  const keycloak = await startKeycloak(realms, {
    hostname: publicUrl,
    ...(proxyHeaders === undefined ? {} : { proxyHeaders }),
    ...(proxyTrustedAddresses === undefined ? {} : { proxyTrustedAddresses }),
  });
  const endpoint: RealmEndpoint = { url: keycloak.url, publicUrl, realm: realm.realm };
  const passwordOf = (user: RealmJsonUser): string => {
    const password = user.credentials?.find((c) => c.type === 'password')?.value;
    if (password === undefined) throw new Error(`${user.username} has no password credential`);
    return resolvePlaceholder(keycloak, password);
  };
  const demoUsers = (realm.users ?? []).filter((u) => u.serviceAccountClientId === undefined);
  return {
    keycloak,
    realm,
    endpoint,
    webClient,
    demoUsers,
    user(roles) {
      const wanted = [...roles].sort().join(',');
      const user = demoUsers.find((u) => [...(u.realmRoles ?? [])].sort().join(',') === wanted);
      if (user === undefined)
        throw new Error(`realm ${realm.realm} has no user with roles ${wanted}`);
      return user;
    },
    passwordOf,
    async login(user, scope = 'openid') {
      const pkce = pkcePair();
      const { code } = await authorize(endpoint, {
        clientId: webClient.clientId,
        redirectUri,
        scope,
        codeChallenge: pkce.challenge,
        username: user.username,
        password: passwordOf(user),
      });
      const result = await exchangeCode(endpoint, {
        clientId: webClient.clientId,
        redirectUri,
        code,
        verifier: pkce.verifier,
      });
      return tokensOf(result, `code exchange for ${user.username}`);
    },
    async clientToken(clientId) {
      const client = realm.clients?.find((c) => c.clientId === clientId);
      if (client?.secret === undefined) throw new Error(`${clientId} has no client secret`);
      const result = await clientCredentials(
        endpoint,
        clientId,
        resolvePlaceholder(keycloak, client.secret),
      );
      return tokensOf(result, `client credentials of ${clientId}`);
    },
    stop: () => keycloak.stop(),
  };
}
