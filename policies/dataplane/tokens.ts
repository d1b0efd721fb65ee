/**
 * The test issuer: an RSA key whose JWKS istiod is given for every `jwksUri`, and the tokens
 * of the corpus, each broken in exactly the way its spec says.
 */
import { createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { TokenSpec } from './model.js';

export interface Issuer {
  /** The JWKS document istiod serves the proxies (`meshward-xds serve --jwks`). */
  readonly jwks: string;
  mint(spec: TokenSpec, now: number): string;
}

const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url');

export function testIssuer(): Issuer {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const kid = 'meshward-dataplane';
  const jwk = publicKey.export({ format: 'jwk' });
  const jwks = JSON.stringify({ keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] });
  const sign = (header: object, claims: object, key: KeyObject) => {
    const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(input).sign(key);
    return `${input}.${b64(signature)}`;
  };
  return {
    jwks,
    mint(spec, now) {
      const seconds = Math.floor(now / 1000);
      const times =
        spec.kind === 'expired'
          ? { iat: seconds - 7200, exp: seconds - 3600 }
          : spec.kind === 'not-yet-valid'
            ? { iat: seconds, nbf: seconds + 3600, exp: seconds + 7200 }
            : { iat: seconds - 10, exp: seconds + 3600 };
      const claims = {
        ...times,
        ...spec.claims,
        ...(spec.kind === 'huge' ? { padding: 'x'.repeat(6000) } : {}),
      };
      const header = { alg: 'RS256', typ: 'JWT', kid };
      if (spec.kind === 'alg-none') {
        return `${b64(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}.`;
      }
      return sign(header, claims, spec.kind === 'bad-signature' ? other : privateKey);
    },
  };
}
