/**
 * The browser app's configuration: which Keycloak realm it logs in at, as which OAuth2
 * client, where the authorization code comes back, and where the API is. It is generated
 * from the realm intent (`policies/realm.ts`) by `npm run build:web` into `config.json`,
 * which the server serves and reads once (its CSP allows exactly these origins). This module
 * only validates; it holds no values of its own, so there is no second copy to drift.
 */
export interface WebClientConfig {
  /** The issuer URL of the realm (`https://auth.shop.example.com/realms/shop`). */
  readonly authority: string;
  /** The public OAuth2 client (code + PKCE S256). */
  readonly clientId: string;
  /** The exact redirect URI the realm allows for the client. */
  readonly redirectUri: string;
  /** The exact post-logout redirect URI the realm allows for the client. */
  readonly postLogoutRedirectUri: string;
  /** Space-delimited scopes to request; must contain `openid`. */
  readonly scope: string;
  /** The origin the API is served on (the gateway), e.g. `https://shop.example.com`. */
  readonly apiBase: string;
}

const FIELDS = [
  'authority',
  'clientId',
  'redirectUri',
  'postLogoutRedirectUri',
  'scope',
  'apiBase',
] as const;

function httpUrl(field: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`config '${field}' ('${value}') is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`config '${field}' ('${value}') must use https or http`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new Error(`config '${field}' ('${value}') must not carry a query or fragment`);
  }
  return url;
}

/** Validates parsed `config.json`; throws an Error naming the bad field. */
export function parseWebClientConfig(value: unknown): WebClientConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('config must be a JSON object');
  }
  const record = value as Record<string, unknown>;
  const unknownField = Object.keys(record).find((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknownField !== undefined) throw new Error(`config has unknown field '${unknownField}'`);
  const fields: Partial<Record<(typeof FIELDS)[number], string>> = {};
  for (const field of FIELDS) {
    const v = record[field];
    if (typeof v !== 'string' || v.trim() === '') {
      throw new Error(`config '${field}' must be a non-empty string`);
    }
    fields[field] = v;
  }
  const config = fields as Record<(typeof FIELDS)[number], string>;
  httpUrl('authority', config.authority);
  const api = httpUrl('apiBase', config.apiBase);
  if (api.origin !== config.apiBase) {
    throw new Error(`config 'apiBase' ('${config.apiBase}') must be an origin (no path)`);
  }
  httpUrl('redirectUri', config.redirectUri);
  httpUrl('postLogoutRedirectUri', config.postLogoutRedirectUri);
  if (!/^[\x21-\x7e]+( [\x21-\x7e]+)*$/.test(config.clientId)) {
    throw new Error(`config 'clientId' ('${config.clientId}') is not a valid client id`);
  }
  if (!config.scope.split(' ').includes('openid')) {
    throw new Error(`config 'scope' ('${config.scope}') must contain 'openid'`);
  }
  return config;
}

/** The origins the page talks to: the API and the login server (the CSP's `connect-src`). */
export function connectOrigins(config: WebClientConfig): string[] {
  return [...new Set([new URL(config.apiBase).origin, new URL(config.authority).origin])];
}
