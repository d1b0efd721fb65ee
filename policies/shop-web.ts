/**
 * The browser app's configuration, derived from the realm and gateway intent — never written
 * by hand. `npm run build:web` writes it to shop-web's `config.json`; shop-web's server reads
 * it for its CSP. Change a URI in `realm.ts` and the realm, the gateway and the app follow.
 */
import type { WebClientConfig } from '../services/shop-web/src/client-config.js';

import { SHOP_HOST } from './gateway.js';
import {
  SHOP_ISSUER,
  SHOP_WEB_CLIENT_ID,
  SHOP_WEB_POST_LOGOUT_REDIRECT_URI,
  SHOP_WEB_REDIRECT_URI,
} from './realm.js';

export const shopWebConfig: WebClientConfig = {
  authority: SHOP_ISSUER,
  clientId: SHOP_WEB_CLIENT_ID,
  redirectUri: SHOP_WEB_REDIRECT_URI,
  postLogoutRedirectUri: SHOP_WEB_POST_LOGOUT_REDIRECT_URI,
  // The realm's default client scopes (basic, roles, shop-api-audience, profile) come with it.
  scope: 'openid',
  // Same origin as the page: the gateway routes /api/* to order-service.
  apiBase: `https://${SHOP_HOST}`,
};
