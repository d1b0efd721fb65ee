/// <reference lib="dom" />
/**
 * The login session, with oidc-client-ts: authorization code + PKCE S256 at the realm's
 * public `shop-web` client. Tokens live in memory only (an InMemoryWebStorage user store:
 * a reload forgets them). Only the short-lived login state (state + PKCE code verifier,
 * no token) sits in sessionStorage across the redirect to Keycloak, and is removed after
 * the callback, on every failure and on logout.
 */
import { InMemoryWebStorage, type User, UserManager, WebStorageStateStore } from 'oidc-client-ts';
import { SessionExpiredError, type TokenSource } from './api-client.js';
import type { WebClientConfig } from './client-config.js';
import { describeSessionEnd } from './messages.js';

/** Renew this long before the access token expires (the realm's tokens live 5 minutes). */
export const RENEW_BEFORE_EXPIRY_SECONDS = 30;
const STATE_PREFIX = 'oidc.';

export interface Profile {
  readonly name: string;
  readonly roles: readonly string[];
}

export class Auth implements TokenSource {
  private readonly manager: UserManager;
  private user: User | null = null;
  private inFlight: Promise<string> | undefined;

  /** `onSessionEnded` runs when a refresh is refused or fails: the page shows the login. */
  constructor(
    config: WebClientConfig,
    private readonly onSessionEnded: (message: string) => void,
  ) {
    this.manager = new UserManager({
      authority: config.authority,
      client_id: config.clientId,
      redirect_uri: config.redirectUri,
      post_logout_redirect_uri: config.postLogoutRedirectUri,
      scope: config.scope,
      response_type: 'code',
      userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
      stateStore: new WebStorageStateStore({ store: window.sessionStorage, prefix: STATE_PREFIX }),
      // Renewal goes through refresh() below, so a renewal and a 401 retry share one request:
      // refresh tokens rotate, and two parallel refreshes would spend the same token twice.
      automaticSilentRenew: false,
      accessTokenExpiringNotificationTimeInSeconds: RENEW_BEFORE_EXPIRY_SECONDS,
      monitorSession: false,
      loadUserInfo: false,
      requestTimeoutInSeconds: 10,
      silentRequestTimeoutInSeconds: 10,
    });
    this.manager.events.addAccessTokenExpiring(() => {
      this.refresh().catch(() => {
        // refresh() already ended the session and told the page
      });
    });
  }

  /** The user logged in now, if any. */
  get current(): User | null {
    return this.user;
  }

  /** Starts a login: fetches the realm's discovery document, then navigates to Keycloak. */
  async login(): Promise<void> {
    await this.forget();
    await this.manager.signinRedirect();
  }

  /** Completes a login on the redirect URI; throws (and keeps nothing) on any problem. */
  async completeLogin(url: string): Promise<User> {
    try {
      this.user = await this.manager.signinRedirectCallback(url);
      return this.user;
    } finally {
      this.clearLoginState();
    }
  }

  /** Ends the Keycloak session (end-session endpoint with id_token_hint) and forgets the tokens. */
  async logout(): Promise<void> {
    const idToken = this.user?.id_token;
    this.user = null;
    this.clearLoginState();
    await this.manager.signoutRedirect(idToken ? { id_token_hint: idToken } : {});
  }

  /** Drops every token and every pending login state. */
  async forget(): Promise<void> {
    this.user = null;
    this.clearLoginState();
    await this.manager.removeUser();
  }

  accessToken(): string | undefined {
    return this.user?.access_token;
  }

  refresh(): Promise<string> {
    this.inFlight ??= this.renew().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  profile(): Profile | undefined {
    if (!this.user) return undefined;
    const claims = this.user.profile;
    const realmAccess = claims.realm_access as { roles?: unknown } | undefined;
    const roles = Array.isArray(realmAccess?.roles)
      ? realmAccess.roles.filter((r): r is string => typeof r === 'string')
      : [];
    const name = claims.name ?? claims.preferred_username ?? claims.sub;
    return { name, roles: [...roles].sort() };
  }

  private async renew(): Promise<string> {
    if (!this.user?.refresh_token) {
      throw new SessionExpiredError('You are not logged in.');
    }
    try {
      const user = await this.manager.signinSilent();
      if (!user) throw new Error('no user after refresh');
      this.user = user;
      return user.access_token;
    } catch (err) {
      await this.forget();
      const message = describeSessionEnd(err);
      this.onSessionEnded(message);
      throw new SessionExpiredError(message, { cause: err });
    }
  }

  private clearLoginState(): void {
    const keys: string[] = [];
    for (let i = 0; i < window.sessionStorage.length; i++) {
      const key = window.sessionStorage.key(i);
      if (key?.startsWith(STATE_PREFIX)) keys.push(key);
    }
    keys.forEach((key) => {
      window.sessionStorage.removeItem(key);
    });
  }
}
