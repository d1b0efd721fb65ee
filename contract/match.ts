/**
 * Istio's string and path matching, compiled once: what an AuthorizationPolicy's `paths`,
 * `principals` and claim values mean. One definition for the policy engine and the services'
 * route guard. Imports nothing.
 */

export type StringPredicate = (value: string) => boolean;

/** `abc` exact, `abc*` prefix, `*abc` suffix, `*` = non-empty; a middle `*` is literal. */
export function stringMatcher(pattern: string, caseInsensitive = false): StringPredicate {
  const p = caseInsensitive ? pattern.toLowerCase() : pattern;
  const norm = caseInsensitive ? (v: string) => v.toLowerCase() : (v: string) => v;
  if (p === '*') return (v) => v.length > 0;
  if (p.length > 1 && p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (v) => norm(v).startsWith(prefix);
  }
  if (p.length > 1 && p.startsWith('*')) {
    const suffix = p.slice(1);
    return (v) => norm(v).endsWith(suffix);
  }
  return (v) => norm(v) === p;
}

/** Any of the patterns; exact patterns go through a Set. */
export function anyOf(patterns: readonly string[], caseInsensitive = false): StringPredicate {
  const exact = new Set<string>();
  const others: StringPredicate[] = [];
  for (const raw of patterns) {
    const p = caseInsensitive ? raw.toLowerCase() : raw;
    if (p.includes('*') && (p === '*' || p.startsWith('*') || p.endsWith('*'))) {
      others.push(stringMatcher(p, caseInsensitive));
    } else exact.add(p);
  }
  if (others.length === 0) {
    return caseInsensitive ? (v) => exact.has(v.toLowerCase()) : (v) => exact.has(v);
  }
  return (v) => exact.has(caseInsensitive ? v.toLowerCase() : v) || others.some((m) => m(v));
}

const TEMPLATE_SEGMENT = /^(\{\*\}|\{\*\*\}|[^{}*]*)$/;

/** True when the path is a template (`{*}` / `{**}`). */
export function isPathTemplate(path: string): boolean {
  return path.includes('{');
}

/** Validates a path template; returns an error text or null. */
export function pathTemplateError(path: string): string | null {
  if (!path.startsWith('/')) return `path template '${path}' must start with '/'`;
  const segs = path.split('/').slice(1);
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] ?? '';
    if (!TEMPLATE_SEGMENT.test(s)) return `path template '${path}' has an invalid segment '${s}'`;
    if (s === '{**}' && segs.slice(i + 1).some((x) => x.includes('{'))) {
      return `path template '${path}': '{**}' must be the last operator`;
    }
  }
  return null;
}

// Envoy's uri_template (source/extensions/path/uri_template_lib/uri_template_internal.cc): a
// `*` operator matches one or more pchar (RFC 3986: unreserved, pct-encoded, sub-delims, `:`,
// `@`); `**` also matches `/`. Envoy 1.40 takes `=` and `*` there (verify-dataplane: a real
// Envoy allows `/api/orders/1=1` and `/api/orders/a*b` for `/api/orders/{*}`), so `[`, `]` and
// what is not pchar are what a segment may not hold. (The characters Envoy's canonicalizer
// percent-encodes first, `"<>^\`{|}`, arrive as `%XX` and match: engine/normalize.ts.)
const PCHAR = "a-zA-Z0-9\\-._~%!$&'()*+,;=:@";
const ONE_SEGMENT = `[${PCHAR}]+`;
const ANY_SEGMENTS = `[${PCHAR}/]*`;

/**
 * `{*}` = one segment of pchar (no `*`, `=`, `[`, `]`, space, non-ASCII), `{**}` = any run of
 * them and `/` (last operator only): the regular expression Envoy's uri_template matcher
 * compiles the template to, matched against the whole path.
 */
export function pathTemplateMatcher(template: string): StringPredicate {
  const source = template
    .split('/')
    .map((s) =>
      s === '{*}'
        ? ONE_SEGMENT
        : s === '{**}'
          ? ANY_SEGMENTS
          : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  const re = new RegExp(`^${source}$`);
  return (path) => re.test(path);
}

/** A `paths` / `notPaths` value: template or string form. */
export function pathMatcher(pattern: string): StringPredicate {
  return isPathTemplate(pattern) ? pathTemplateMatcher(pattern) : stringMatcher(pattern);
}

/**
 * Whether two path patterns (Istio syntax: exact, `/x/*` prefix, `{*}` and `{**}` templates)
 * can match the same request path. Decided on candidate paths built from both patterns (each
 * one's sample, and one that takes every literal segment either pattern has): exact for
 * exact, prefix and single-template pairs; for two templates it may miss an overlap that only
 * a path built from neither side's literals shows.
 */
export function pathsOverlap(p: string, q: string): boolean {
  const mp = pathMatcher(p);
  const mq = pathMatcher(q);
  return overlapCandidates(p, q).some((path) => mp(path) && mq(path));
}

/** A concrete path for a pattern: `{*}` → `o-1`, `{**}` and a trailing `*` → `x`. */
export function samplePath(pattern: string): string {
  let p = pattern.replace(/\{\*\*\}/g, 'x').replace(/\{\*\}/g, 'o-1');
  if (p.endsWith('*')) p = `${p.slice(0, -1)}x`;
  if (p.startsWith('*')) p = `/x${p.slice(1)}`;
  return p;
}

function overlapCandidates(p: string, q: string): string[] {
  const literal = (s: string | undefined) =>
    s !== undefined && s !== '{*}' && s !== '{**}' && s !== '*' ? s : undefined;
  const segs = (x: string) => x.split('/').slice(1);
  const a = segs(p);
  const b = segs(q);
  const merged = Array.from({ length: Math.max(a.length, b.length) }, (_, i) => {
    return literal(a[i]) ?? literal(b[i]) ?? 'o-1';
  });
  const candidates = [samplePath(p), samplePath(q), `/${merged.join('/')}`];
  // A prefix pattern also matches the bare prefix path with one more segment.
  for (const x of [p, q]) if (x.endsWith('/*')) candidates.push(`${x.slice(0, -1)}o-1`);
  return candidates;
}
