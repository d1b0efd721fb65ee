/** String, path-template and IP matchers with Istio's semantics, compiled once. */

import type { StringPredicate } from '../../contract/match.js';

export {
  anyOf,
  isPathTemplate,
  pathMatcher,
  pathTemplateError,
  pathTemplateMatcher,
  pathsOverlap,
  samplePath,
  stringMatcher,
  type StringPredicate,
} from '../../contract/match.js';

function parseIp(ip: string): { v6: boolean; value: bigint } | null {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    const parts = ip.split('.').map(Number);
    if (parts.some((n) => n > 255)) return null;
    return { v6: false, value: parts.reduce((acc, n) => (acc << 8n) | BigInt(n), 0n) };
  }
  if (!ip.includes(':')) return null;
  const halves = ip.split('::');
  if (halves.length > 2) return null;
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...left, ...Array<string>(missing).fill('0'), ...right];
  if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  return { v6: true, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

/** Returns an error text for a bad CIDR / IP, or null. */
export function cidrError(cidr: string): string | null {
  const [ip = '', bits] = cidr.split('/') as [string?, string?];
  const parsed = parseIp(ip);
  if (!parsed) return `'${cidr}' is not an IP address or CIDR`;
  if (bits !== undefined) {
    const n = Number(bits);
    if (!/^\d+$/.test(bits) || n > (parsed.v6 ? 128 : 32))
      return `'${cidr}' has a bad prefix length`;
  }
  return null;
}

/** CIDR or single-IP matcher; invalid entries never match. */
export function cidrMatcher(cidrs: readonly string[]): StringPredicate {
  const blocks = cidrs.flatMap((c) => {
    const [ip = '', bits] = c.split('/') as [string?, string?];
    const parsed = parseIp(ip);
    if (!parsed) return [];
    const width = parsed.v6 ? 128n : 32n;
    const len = bits === undefined ? width : BigInt(bits);
    const mask = len === 0n ? 0n : ((1n << len) - 1n) << (width - len);
    return [{ v6: parsed.v6, mask, net: parsed.value & mask }];
  });
  const cache = new Map<string, boolean>();
  return (value) => {
    const hit = cache.get(value);
    if (hit !== undefined) return hit;
    const parsed = parseIp(value);
    const result =
      parsed !== null &&
      blocks.some((b) => b.v6 === parsed.v6 && (parsed.value & b.mask) === b.net);
    if (cache.size < 10000) cache.set(value, result);
    return result;
  };
}
