/**
 * Input checks shared by the constructs. Each throws an Error that names the
 * construct, the property and the offending value, so a bad intent fails at synth
 * time instead of producing a policy that is quietly more permissive.
 */

/** The HTTP methods an access rule may name (Istio matches `:method` exactly, upper case). */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1123 label: Kubernetes names of Namespaces, Services and ServiceAccounts. */
export function validateName(owner: string, prop: string, value: string): string {
  if (value.length === 0 || value.length > 63 || !DNS1123_LABEL.test(value)) {
    throw new Error(
      `${owner}: '${prop}' ('${value}') must be a DNS-1123 label: 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit`,
    );
  }
  return value;
}

export function validatePort(owner: string, prop: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new Error(`${owner}: '${prop}' (${value}) must be an integer in 1-65535`);
  }
  return value;
}

export function validateMethods(owner: string, methods: readonly string[]): HttpMethod[] {
  if (methods.length === 0) {
    throw new Error(`${owner}: 'methods' is empty; omit it to match every method`);
  }
  for (const m of methods) {
    if (!(HTTP_METHODS as readonly string[]).includes(m)) {
      const hint = (HTTP_METHODS as readonly string[]).includes(m.toUpperCase())
        ? ` (Istio matches methods case-sensitively: write '${m.toUpperCase()}')`
        : ` (one of ${HTTP_METHODS.join(', ')})`;
      throw new Error(`${owner}: method '${m}' is not a valid HTTP method${hint}`);
    }
  }
  return [...methods] as HttpMethod[];
}

/**
 * Checks a route path and compiles it to Istio's path syntax.
 *
 * Accepted forms: an exact path (`/api/orders`), a sub-tree (`/api/public/*`, which
 * Istio treats as a prefix ending in a slash), and templates with `{*}` (one segment),
 * `{**}` (any number of segments, last only) or a named segment `{id}` (compiled to `{*}`).
 * Rejected: anything Istio would reject or that over-matches — a `*` that does not
 * follow a `/` (`/admin*` also matches `/administrator`), a `*` in the middle, paths
 * that rely on normalization (`//`, `.`/`..` segments, `%`), queries and fragments.
 */
export function compilePath(owner: string, path: string): string {
  const fail = (why: string): never => {
    throw new Error(`${owner}: path '${path}' ${why}`);
  };
  if (!path.startsWith('/')) fail("must start with '/'");
  if (/[?#]/.test(path))
    fail('must not contain a query or fragment (Istio matches the path without them)');
  if (path.includes('%'))
    fail('must not contain percent-encoding (Istio matches the normalized path)');
  if (path.includes('\\')) fail("must not contain '\\' (normalized to '/')");
  if (path.includes('//'))
    fail("must not contain '//' (only merged by MERGE_SLASHES normalization)");
  if (/\s/.test(path)) fail('must not contain white space');
  // eslint-disable-next-line no-control-regex -- the check is for control characters
  const control = /[\u0000-\u001f\u007f]/.exec(path);
  if (control) {
    fail(
      `must not contain the control character U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} (a request line cannot carry it, so the rule would never match)`,
    );
  }
  const segments = path.split('/').slice(1);
  if (segments.some((s) => s === '.' || s === '..')) fail("must not contain '.' or '..' segments");

  const templated = path.includes('{');
  if (path.includes('*') && !templated) {
    if (path === '/*') fail('matches every path; write the public paths explicitly');
    if (path.indexOf('*') !== path.length - 1) fail("may contain '*' only at the end, as '/*'");
    if (!path.endsWith('/*')) {
      fail(
        `over-matches: '${path}' also matches '${path.slice(0, -1)}istrator'; use '${path.slice(0, -1)}/*' for the sub-tree`,
      );
    }
    return path;
  }
  if (!templated) return path;
  if (path === '/{**}') fail("matches every path, like '/*'; write the public paths explicitly");

  const compiled = segments.map((segment, i) => {
    if (segment === '{**}') {
      if (i !== segments.length - 1) fail("may use '{**}' only as the last segment");
      return segment;
    }
    if (segment === '{*}') return segment;
    if (/^\{[A-Za-z][A-Za-z0-9_]*\}$/.test(segment)) return '{*}';
    if (/[{}*]/.test(segment)) {
      fail(
        `has an invalid template segment '${segment}': use '{*}', '{**}' or a named segment like '{id}'`,
      );
    }
    return segment;
  });
  return '/' + compiled.join('/');
}

export function requireNonEmpty(
  owner: string,
  prop: string,
  values: readonly string[] | undefined,
): void {
  if (values !== undefined && values.length === 0) {
    throw new Error(`${owner}: '${prop}' is an empty list; omit it or name at least one value`);
  }
  if (values?.some((v) => v.trim() === '')) {
    throw new Error(`${owner}: '${prop}' contains an empty value`);
  }
}

/**
 * Roles, scopes and clients are matched exactly: refuses a `*` (Istio reads `*`, `ADM*` and
 * `*in` as any value, a prefix or a suffix, so `roles: ['ADM*']` would also admit
 * `ADMINISTRATOR`) and a white space (Istio splits `scope` on spaces, so such a value never
 * matches).
 */
export function requireExactValues(
  owner: string,
  prop: string,
  values: readonly string[] | undefined,
): void {
  requireNonEmpty(owner, prop, values);
  for (const v of values ?? []) {
    if (v.includes('*')) {
      throw new Error(
        `${owner}: '${prop}' value '${v}' has a '*': Istio would read it as ${
          v === '*'
            ? 'any value'
            : v.startsWith('*')
              ? 'a suffix'
              : v.endsWith('*')
                ? 'a prefix'
                : 'a literal *'
        }; name each value exactly (for any valid token use 'authenticated: true')`,
      );
    }
    if (/\s/.test(v)) {
      throw new Error(
        `${owner}: '${prop}' value '${v}' contains white space: Istio splits claims like 'scope' on spaces, so it would never match`,
      );
    }
  }
}

/** `cluster.local/ns/<namespace>/sa/<service account>`, the only principal form a rule names. */
const PRINCIPAL =
  /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/ns\/[a-z0-9]([-a-z0-9]*[a-z0-9])?\/sa\/[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Refuses a caller whose principal is not one workload identity (`*`, a prefix, `spiffe://`). */
export function validatePrincipal(owner: string, caller: string, principal: string): void {
  if (!PRINCIPAL.test(principal)) {
    throw new Error(
      `${owner}: caller '${caller}' has principal '${principal}', which is not one workload identity '<trust domain>/ns/<namespace>/sa/<service account>'`,
    );
  }
}
