/**
 * An OpenID Connect client for the tier's Keycloak, driven over plain HTTP. The browser's part of
 * the authorization-code flow (login page, cookies, the form post, the redirect) is done by hand so
 * that every step Keycloak takes is visible to the test; nothing stands in for Keycloak.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { RequestToken } from '../../../policies/engine/index.js';

export interface RealmEndpoint {
  /** Where the tier reaches Keycloak: its loopback URL. */
  readonly url: string;
  /**
   * Keycloak's public URL (its `--hostname`): the links in its pages point there. The tier plays
   * the gateway's part (DNS + TLS termination) by sending those requests to `url` instead.
   */
  readonly publicUrl: string;
  readonly realm: string;
}

export interface TokenSet {
  readonly access_token: string;
  readonly refresh_token?: string;
  readonly id_token?: string;
  readonly token_type: string;
  readonly expires_in: number;
  readonly scope?: string;
}

/** The token endpoint's answer: tokens on 200, the OAuth error otherwise. */
export type TokenResult =
  | { readonly status: 200; readonly tokens: TokenSet }
  | { readonly status: number; readonly error: string; readonly description?: string };

export function tokenEndpoint(endpoint: RealmEndpoint): string {
  return `${endpoint.url}/realms/${endpoint.realm}/protocol/openid-connect/token`;
}

export function jwksUri(endpoint: RealmEndpoint): string {
  return `${endpoint.url}/realms/${endpoint.realm}/protocol/openid-connect/certs`;
}

export async function tokenRequest(
  endpoint: RealmEndpoint,
  params: Record<string, string>,
): Promise<TokenResult> {
  const response = await fetch(tokenEndpoint(endpoint), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (response.status === 200) return { status: 200, tokens: body as unknown as TokenSet };
  return {
    status: response.status,
    error: String(body.error),
    ...(typeof body.error_description === 'string' ? { description: body.error_description } : {}),
  };
}

/** The tokens of a 200 answer; throws with the OAuth error otherwise. */
export function tokensOf(result: TokenResult, what: string): TokenSet {
  if ('tokens' in result) return result.tokens;
  throw new Error(
    `${what}: token endpoint answered ${String(result.status)} ${result.error} ${result.description ?? ''}`,
  );
}

export function clientCredentials(
  endpoint: RealmEndpoint,
  clientId: string,
  secret: string,
): Promise<TokenResult> {
  return tokenRequest(endpoint, {
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: secret,
  });
}

/** The resource-owner password grant (RFC 6749 4.3): what the realm must refuse everywhere. */
export function passwordGrant(
  endpoint: RealmEndpoint,
  clientId: string,
  username: string,
  password: string,
): Promise<TokenResult> {
  return tokenRequest(endpoint, {
    grant_type: 'password',
    client_id: clientId,
    username,
    password,
  });
}

export function refresh(
  endpoint: RealmEndpoint,
  clientId: string,
  refreshToken: string,
): Promise<TokenResult> {
  return tokenRequest(endpoint, {
    grant_type: 'refresh_token',
    client_id: clientId,
    refresh_token: refreshToken,
  });
}

export function claimsOf(jwt: string): JWTPayload & Record<string, unknown> {
  return decodeJwt(jwt);
}

export interface Pkce {
  readonly verifier: string;
  /** BASE64URL(SHA256(verifier)), RFC 7636 S256. */
  readonly challenge: string;
}

export function pkcePair(): Pkce {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface LoginRequest {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly scope: string;
  readonly codeChallenge: string;
  readonly username: string;
  readonly password: string;
}

/** The parameters Keycloak put on the redirect to the client's redirect URI. */
export interface AuthorizationResponse {
  readonly code: string;
  readonly state: string;
  readonly iss: string | null;
}

/** Cookies of one simulated browser: name -> value (attributes are not needed here). */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

function decodeHtmlAttribute(value: string): string {
  return value
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

/** The login form's action URL from Keycloak's login page. */
export function loginFormAction(html: string): string {
  const form = /<form\b[^>]*\bid="kc-form-login"[^>]*>/.exec(html)?.[0];
  const action = form === undefined ? undefined : /\baction="([^"]+)"/.exec(form)?.[1];
  if (action === undefined) {
    throw new Error(
      `no kc-form-login form with an action in the login page:\n${html.slice(0, 600)}`,
    );
  }
  return decodeHtmlAttribute(action);
}

/** A URL of Keycloak's public origin, rewritten to the loopback URL the tier reaches it on. */
function toLoopback(endpoint: RealmEndpoint, url: string): string {
  const target = new URL(url);
  const publicOrigin = new URL(endpoint.publicUrl).origin;
  const loopback = new URL(endpoint.url);
  if (target.origin !== publicOrigin && target.origin !== loopback.origin) {
    throw new Error(`Keycloak linked to ${url}, outside ${publicOrigin} and ${loopback.origin}`);
  }
  return `${loopback.origin}${target.pathname}${target.search}`;
}

/**
 * The browser's part of the authorization-code flow: GET the authorize endpoint, read the login
 * form, post the user's credentials, and read the code from the redirect to the client's redirect
 * URI. That redirect is not followed: the URI belongs to the web front end.
 */
export async function authorize(
  endpoint: RealmEndpoint,
  login: LoginRequest,
): Promise<AuthorizationResponse> {
  const jar = new CookieJar();
  const state = randomBytes(16).toString('base64url');
  const authorizeUrl = new URL(
    `${endpoint.url}/realms/${endpoint.realm}/protocol/openid-connect/auth`,
  );
  authorizeUrl.search = new URLSearchParams({
    client_id: login.clientId,
    redirect_uri: login.redirectUri,
    response_type: 'code',
    scope: login.scope,
    state,
    nonce: randomBytes(16).toString('base64url'),
    code_challenge: login.codeChallenge,
    code_challenge_method: 'S256',
  }).toString();

  const page = await fetch(authorizeUrl, { redirect: 'manual' });
  jar.store(page);
  const html = await page.text();
  if (page.status !== 200) {
    throw new Error(`authorize answered ${String(page.status)}:\n${html.slice(0, 600)}`);
  }

  const posted = await fetch(toLoopback(endpoint, loginFormAction(html)), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
    body: new URLSearchParams({
      username: login.username,
      password: login.password,
      credentialId: '',
    }),
  });
  const location = posted.headers.get('location');
  if (posted.status !== 302 || location === null || !location.startsWith(login.redirectUri)) {
    const text = await posted.text();
    throw new Error(
      `login of ${login.username} answered ${String(posted.status)} (location ${String(location)}):\n${text.slice(0, 600)}`,
    );
  }
  const params = new URL(location).searchParams;
  const code = params.get('code');
  if (code === null) throw new Error(`redirect without a code: ${location}`);
  if (params.get('state') !== state) throw new Error(`redirect with a foreign state: ${location}`);
  return { code, state, iss: params.get('iss') };
}

export function exchangeCode(
  endpoint: RealmEndpoint,
  exchange: {
    readonly clientId: string;
    readonly redirectUri: string;
    readonly code: string;
    readonly verifier: string;
  },
): Promise<TokenResult> {
  return tokenRequest(endpoint, {
    grant_type: 'authorization_code',
    client_id: exchange.clientId,
    redirect_uri: exchange.redirectUri,
    code: exchange.code,
    code_verifier: exchange.verifier,
  });
}

/**
 * The token as `meshward decide` takes it: its claims, and `valid` as Envoy's jwt_authn would find
 * it — signature against the realm's keys, issuer and audiences of the RequestAuthentication, expiry.
 */
export async function requestToken(
  jwt: string,
  rule: {
    readonly keys: JWTVerifyGetKey;
    readonly issuer: string;
    readonly audiences: readonly string[];
  },
): Promise<RequestToken> {
  const valid = await jwtVerify(jwt, rule.keys, {
    issuer: rule.issuer,
    audience: [...rule.audiences],
  }).then(
    () => true,
    () => false,
  );
  return { claims: claimsOf(jwt), valid };
}

/** The token with its payload changed and its signature kept: what a forger can do. */
export function tampered(jwt: string, change: Record<string, unknown>): string {
  const [header = '', payload = '', signature = ''] = jwt.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as object;
  const forged = Buffer.from(JSON.stringify({ ...claims, ...change })).toString('base64url');
  return `${header}.${forged}.${signature}`;
}
