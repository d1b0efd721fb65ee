import type { Identity } from './identity.js';

export interface VerifiedTokenCacheOptions {
  /** Most tokens kept; the oldest entry is evicted first. 0 disables the cache. */
  readonly maxEntries: number;
  /** The same tolerance verification applies to `exp` and `nbf`. */
  readonly clockToleranceSeconds: number;
  /**
   * Longest an entry is trusted, whatever its `exp`: bounds how long a token verified with
   * a key since removed from the JWKS is still accepted.
   * @default 300
   */
  readonly maxTtlSeconds?: number;
  /** Clock in milliseconds since the epoch (tests). @default Date.now */
  readonly now?: () => number;
}

/** The time claims of a verified token, in seconds since the epoch. */
export interface VerifiedTimes {
  readonly exp: number;
  readonly nbf?: number;
}

interface Entry {
  readonly identity: Identity;
  readonly nbf: number | undefined;
  /** min(exp + tolerance, insertion + max TTL), in milliseconds. */
  readonly validUntilMs: number;
}

/**
 * Tokens longer than this are verified every time instead of cached, so the cache's
 * memory stays bounded (at most `maxEntries` × 8 KiB of keys).
 */
export const MAX_CACHED_TOKEN_LENGTH = 8192;

/**
 * A bounded cache of verified tokens, like Envoy jwt_authn's `jwt_cache_config`: keyed
 * by the full compact token (signature included, so any other string is a miss and is
 * verified in full), it stores the identity read from the verified claims. Only tokens
 * that passed verification are stored. An entry is trusted until the token's `exp` (with
 * the clock tolerance, exactly where verification would start refusing it) or the max
 * TTL, whichever comes first, checked on every hit together with `nbf`.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly toleranceSeconds: number;
  private readonly maxTtlMs: number;
  private readonly now: () => number;

  constructor(options: VerifiedTokenCacheOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 0) {
      throw new Error(`'maxEntries' (${options.maxEntries}) must be an integer >= 0`);
    }
    const maxTtlSeconds = options.maxTtlSeconds ?? 300;
    if (!(maxTtlSeconds > 0)) {
      throw new Error(`'maxTtlSeconds' (${maxTtlSeconds}) must be positive`);
    }
    this.maxEntries = options.maxEntries;
    this.toleranceSeconds = options.clockToleranceSeconds;
    this.maxTtlMs = maxTtlSeconds * 1000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The identity of a cached, still valid token; undefined means "verify it". */
  get(token: string): Identity | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    // validUntilMs already holds exp + tolerance (where jose starts refusing the token);
    // nbf is re-checked in case the clock was set back since the token was verified.
    const nowMs = this.now();
    if (
      nowMs >= entry.validUntilMs ||
      (entry.nbf !== undefined && entry.nbf > Math.floor(nowMs / 1000) + this.toleranceSeconds)
    ) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.identity;
  }

  /** Stores a token that has just passed verification. */
  set(token: string, identity: Identity, times: VerifiedTimes): void {
    if (this.maxEntries === 0 || token.length > MAX_CACHED_TOKEN_LENGTH) return;
    const validUntilMs = Math.min(
      (times.exp + this.toleranceSeconds) * 1000,
      this.now() + this.maxTtlMs,
    );
    this.entries.delete(token);
    this.entries.set(token, { identity, nbf: times.nbf, validUntilMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }
}
