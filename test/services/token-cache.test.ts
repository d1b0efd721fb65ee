import type { JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../../services/shared/config.js';
import { createIdentityResolver } from '../../services/shared/identity.js';
import type { Identity } from '../../services/shared/identity.js';
import { MAX_CACHED_TOKEN_LENGTH, VerifiedTokenCache } from '../../services/shared/token-cache.js';
import { authConfig, createTestIssuer } from './support.js';
import type { TestIssuer } from './support.js';

/** A key set that counts how often verification asked it for a key (one per full verification). */
function countingKeySet(issuer: TestIssuer): { keySet: JWTVerifyGetKey; calls: () => number } {
  let calls = 0;
  const keySet: JWTVerifyGetKey = (header, token) => {
    calls++;
    return issuer.keySet(header, token);
  };
  return { keySet, calls: () => calls };
}

/** A clock the test moves by hand, starting at the real time. */
function manualClock(): { now: () => number; advance: (seconds: number) => void } {
  let ms = Date.now();
  return {
    now: () => ms,
    advance: (seconds) => {
      ms += seconds * 1000;
    },
  };
}

function identity(subject: string): Identity {
  return { subject, roles: [], scopes: [], claims: { sub: subject }, token: `t-${subject}` };
}

/** Replaces one character in the middle of the signature, so it no longer verifies. */
function flipSignatureChar(token: string): string {
  const i = token.lastIndexOf('.') + 10;
  const c = token[i] === 'A' ? 'B' : 'A';
  return token.slice(0, i) + c + token.slice(i + 1);
}

describe('verified token cache', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await createTestIssuer();
  });

  const verifyWithCache = (size: number): AuthConfig => ({
    ...authConfig('verify'),
    cacheSize: size,
  });

  test('a repeated token returns the identical identity without verifying again', async () => {
    // GIVEN a verify-mode resolver with the default cache
    const keys = countingKeySet(issuer);
    const resolve = createIdentityResolver(authConfig('verify'), { keySet: keys.keySet });
    const token = await issuer.mint({ sub: 'alice', realm_access: { roles: ['USER', 'ADMIN'] } });
    // WHEN the same token arrives twice
    const first = await resolve(`Bearer ${token}`);
    const second = await resolve(`Bearer ${token}`);
    // THEN the second answer is the same identity, and the signature was checked once
    expect(second).toBe(first);
    expect(second).toEqual({
      subject: 'alice',
      clientId: 'shop-web',
      roles: ['USER', 'ADMIN'],
      scopes: ['openid', 'orders'],
      claims: expect.objectContaining({ sub: 'alice' }) as unknown,
      token,
    });
    expect(keys.calls()).toBe(1);
    // AND the synchronous lookup the web layer uses sees the same entry
    expect(resolve.cached?.(`Bearer ${token}`)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  test('rejects a cached token once it has expired (beyond the clock tolerance)', async () => {
    // GIVEN a token valid for 60 s, verified and cached at t0 (tolerance 30 s)
    const clock = manualClock();
    const keys = countingKeySet(issuer);
    const resolve = createIdentityResolver(authConfig('verify'), {
      keySet: keys.keySet,
      now: clock.now,
    });
    const token = await issuer.mint({ sub: 'alice' }, { expiresIn: '60s' });
    await expect(resolve(`Bearer ${token}`)).resolves.toMatchObject({ subject: 'alice' });
    // WHEN it is used within exp + tolerance THEN it is still a hit
    clock.advance(85);
    await expect(resolve(`Bearer ${token}`)).resolves.toMatchObject({ subject: 'alice' });
    expect(keys.calls()).toBe(1);
    // WHEN it is used after exp + tolerance THEN the cache no longer answers and it is a 401
    clock.advance(10);
    expect(resolve.cached?.(`Bearer ${token}`)).toBeUndefined();
    await expect(resolve(`Bearer ${token}`)).rejects.toMatchObject({
      status: 401,
      code: 'unauthorized',
    });
  });

  test('an entry is dropped after the max TTL even if the token is still valid', async () => {
    // GIVEN a 1 h token and a max TTL of 60 s
    const clock = manualClock();
    const keys = countingKeySet(issuer);
    const resolve = createIdentityResolver(authConfig('verify'), {
      keySet: keys.keySet,
      now: clock.now,
      cacheMaxTtlSeconds: 60,
    });
    const token = await issuer.mint({ sub: 'alice' }, { expiresIn: '1h' });
    await resolve(`Bearer ${token}`);
    // WHEN 61 s have passed THEN the token is verified again (and still accepted)
    clock.advance(61);
    expect(resolve.cached?.(`Bearer ${token}`)).toBeUndefined();
    await expect(resolve(`Bearer ${token}`)).resolves.toMatchObject({ subject: 'alice' });
    expect(keys.calls()).toBe(2);
  });

  test('a token differing by one signature character is not a hit and is rejected', async () => {
    // GIVEN a cached valid token
    const keys = countingKeySet(issuer);
    const resolve = createIdentityResolver(authConfig('verify'), { keySet: keys.keySet });
    const token = await issuer.mint({ sub: 'alice' });
    await resolve(`Bearer ${token}`);
    // WHEN one character of its signature changes
    const forged = flipSignatureChar(token);
    expect(forged).not.toBe(token);
    expect(forged.length).toBe(token.length);
    // THEN it is verified in full (a miss) and refused, and nothing is cached for it
    expect(resolve.cached?.(`Bearer ${forged}`)).toBeUndefined();
    await expect(resolve(`Bearer ${forged}`)).rejects.toMatchObject({ status: 401 });
    await expect(resolve(`Bearer ${forged}`)).rejects.toMatchObject({ status: 401 });
    expect(keys.calls()).toBe(3);
  });

  test('a token that fails verification is never cached', async () => {
    const keys = countingKeySet(issuer);
    const resolve = createIdentityResolver(authConfig('verify'), { keySet: keys.keySet });
    const wrongAudience = await issuer.mint({ aud: 'other-api' });
    for (let i = 0; i < 3; i++) {
      await expect(resolve(`Bearer ${wrongAudience}`)).rejects.toMatchObject({ status: 401 });
    }
    // THEN every attempt was a full verification
    expect(keys.calls()).toBe(3);
  });

  test('holds at most JWT_CACHE_SIZE tokens, evicting the oldest', async () => {
    // GIVEN a cache of 2 and three valid tokens
    const keys = countingKeySet(issuer);
    const resolve = createIdentityResolver(verifyWithCache(2), { keySet: keys.keySet });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((sub) => issuer.mint({ sub })));
    // WHEN all three are used in turn
    for (const t of [a, b, c]) await resolve(`Bearer ${t}`);
    // THEN the first was evicted, the last two are still cached
    expect(resolve.cached?.(`Bearer ${a}`)).toBeUndefined();
    expect(resolve.cached?.(`Bearer ${b}`)).toMatchObject({ subject: 'b' });
    expect(resolve.cached?.(`Bearer ${c}`)).toMatchObject({ subject: 'c' });
    expect(keys.calls()).toBe(3);
  });

  test('JWT_CACHE_SIZE=0 verifies every request', async () => {
    const keys = countingKeySet(issuer);
    const resolve = createIdentityResolver(verifyWithCache(0), { keySet: keys.keySet });
    const token = await issuer.mint({ sub: 'alice' });
    const first = await resolve(`Bearer ${token}`);
    const second = await resolve(`Bearer ${token}`);
    expect(second).toEqual(first);
    expect(resolve.cached?.(`Bearer ${token}`)).toBeUndefined();
    expect(keys.calls()).toBe(2);
  });

  test('mesh mode memoizes the decoded identity of a token', async () => {
    const resolve = createIdentityResolver(authConfig('mesh'));
    const token = await issuer.mint({ sub: 'bob' });
    const first = await resolve(`Bearer ${token}`);
    expect(await resolve(`Bearer ${token}`)).toBe(first);
    // AND a malformed header next to it is still refused
    await expect(resolve(`Bearer ${token} `)).rejects.toMatchObject({ status: 401 });
    await expect(resolve(`bearer ${token}`)).rejects.toMatchObject({ status: 401 });
  });

  describe('VerifiedTokenCache', () => {
    test('re-checks nbf on a hit (a clock set back before nbf - tolerance misses)', () => {
      // GIVEN an entry whose nbf is 10 s from now, tolerance 30 s
      const clock = manualClock();
      const cache = new VerifiedTokenCache({
        maxEntries: 10,
        clockToleranceSeconds: 30,
        now: clock.now,
      });
      const now = Math.floor(clock.now() / 1000);
      cache.set('t', identity('x'), { exp: now + 600, nbf: now + 10 });
      expect(cache.get('t')).toMatchObject({ subject: 'x' });
      // WHEN the clock goes back 60 s THEN nbf > now + tolerance and the entry is gone
      clock.advance(-60);
      expect(cache.get('t')).toBeUndefined();
      expect(cache.size).toBe(0);
    });

    test('never grows beyond maxEntries', () => {
      const cache = new VerifiedTokenCache({ maxEntries: 3, clockToleranceSeconds: 0 });
      const exp = Math.floor(Date.now() / 1000) + 600;
      for (let i = 0; i < 50; i++) cache.set(`t${i}`, identity(`s${i}`), { exp });
      expect(cache.size).toBe(3);
      expect(cache.get('t49')).toMatchObject({ subject: 's49' });
      expect(cache.get('t46')).toBeUndefined();
    });

    test('does not cache tokens longer than MAX_CACHED_TOKEN_LENGTH', () => {
      const cache = new VerifiedTokenCache({ maxEntries: 3, clockToleranceSeconds: 0 });
      const exp = Math.floor(Date.now() / 1000) + 600;
      const long = 'x'.repeat(MAX_CACHED_TOKEN_LENGTH + 1);
      cache.set(long, identity('x'), { exp });
      expect(cache.get(long)).toBeUndefined();
      expect(cache.size).toBe(0);
    });

    test('throws when maxEntries is negative or fractional', () => {
      expect(() => new VerifiedTokenCache({ maxEntries: -1, clockToleranceSeconds: 0 })).toThrow(
        "'maxEntries' (-1) must be an integer >= 0",
      );
      expect(() => new VerifiedTokenCache({ maxEntries: 1.5, clockToleranceSeconds: 0 })).toThrow(
        /'maxEntries' \(1.5\)/,
      );
    });
  });
});
