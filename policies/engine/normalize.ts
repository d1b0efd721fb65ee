import type { PathNormalization } from './model.js';

const UNRESERVED = /%(2[dDeE]|5[fF]|7[eE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])/g;

function removeDotSegments(path: string): string {
  const input = path.split('/');
  const out: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const seg = input[i] ?? '';
    const last = i === input.length - 1;
    if (seg === '.') {
      if (last) out.push('');
    } else if (seg === '..') {
      if (out.length > 1) out.pop();
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : `/${joined}`;
}

/**
 * The path Istio's authorization sees, query and fragment removed; null when Envoy
 * answers 400 (a `%00`).
 * @see /work/shared/istio-security-semantics.md "Path normalization"
 */
export function normalizePath(raw: string, mode: PathNormalization): string | null {
  const cache = CACHES[mode];
  const hit = cache.get(raw);
  if (hit !== undefined) return hit;
  const result = normalizeUncached(raw, mode);
  if (cache.size >= 10_000) cache.clear();
  cache.set(raw, result);
  return result;
}

const CACHES: Record<PathNormalization, Map<string, string | null>> = {
  BASE: new Map(),
  NONE: new Map(),
  MERGE_SLASHES: new Map(),
  DECODE_AND_MERGE_SLASHES: new Map(),
};

function normalizeUncached(raw: string, mode: PathNormalization): string | null {
  let path = raw;
  const q = path.indexOf('?');
  if (q >= 0) path = path.slice(0, q);
  const h = path.indexOf('#');
  if (h >= 0) path = path.slice(0, h);
  if (mode === 'NONE') return path;
  if (path.includes('%00')) return null;
  // Envoy's path canonicalizer (chromium's) percent-encodes these before any matcher sees
  // the path (verify-dataplane: `/a^b` reaches the app as `/a%5Eb`); `[` and `]` stay raw.
  path = path.replace(/["<>^`{|}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (!path.includes('%') && !path.includes('\\') && !path.includes('.') && !path.includes('//')) {
    return path === '' ? '/' : path;
  }
  if (mode === 'DECODE_AND_MERGE_SLASHES') {
    path = path.replace(/%2[fF]/g, '/').replace(/%5[cC]/g, '\\');
  }
  path = path.replace(UNRESERVED, (m) => String.fromCharCode(parseInt(m.slice(1), 16)));
  path = path.replace(/\\/g, '/');
  path = removeDotSegments(path);
  if (mode !== 'BASE') path = path.replace(/\/{2,}/g, '/');
  return path;
}
