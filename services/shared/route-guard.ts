import { audiencesOf, type ClaimsPredicate, compileConditions } from '../../contract/claims.js';
import type { StringPredicate } from '../../contract/match.js';
import { pathMatcher } from '../../contract/match.js';
import type { RouteEntry } from '../../contract/routes.js';
import type { AuthConfig } from './config.js';
import type { Identity } from './identity.js';
import { spaceDelimitedClaims } from './identity.js';

/** Decides whether an authenticated caller may use a route. */
export interface RouteGuard {
  /** `method` upper-case as Express gives it, `path` as `req.path` (no query). */
  allows(method: string, path: string, caller: Identity): boolean;
}

interface CompiledRoute {
  readonly methods: ReadonlySet<string> | null;
  readonly paths: readonly StringPredicate[];
  readonly entry: RouteEntry;
  readonly when: ClaimsPredicate;
}

/**
 * The service's own route intent (`MESHWARD_ROUTES`, from the pod's `meshward.io/routes`
 * annotation: the same route list the constructs compile into the AuthorizationPolicy),
 * enforced in the app as defence in depth. The mesh stays the enforcer of record; this
 * guard makes a token that reaches the app without it (`AUTH_MODE=verify`, or a sidecar
 * that was bypassed) meet the same rules.
 *
 * A request is allowed when ANY route allows it, and a route allows it when:
 * - its `methods` hold the method (`null` = every method),
 * - one of its `paths` matches (Istio syntax, contract/match.ts `pathMatcher`), and
 * - it is `public`, or the token's `iss` is the route's `issuer`, its `aud` holds one of
 *   the route's `audiences` (when it names any), and every `when` condition holds
 *   (contract/claims.ts `compileConditions`: roles, scopes, `azp`...).
 *
 * No matching route: denied. NOT checked: `principals`, the mTLS identity of the calling
 * workload, which the app cannot see; only the mesh enforces who may call.
 *
 * Compiled once: method sets and path matchers are built here, so a request costs a set
 * lookup and a few string comparisons per route until one matches.
 */
export function createRouteGuard(
  auth: Pick<AuthConfig, 'routes' | 'rolesClaim' | 'rolesClaimFormat'>,
): RouteGuard {
  const spaceDelimited = spaceDelimitedClaims(auth);
  const routes: CompiledRoute[] = auth.routes.map((entry) => ({
    methods: entry.methods === null ? null : new Set(entry.methods),
    paths: entry.paths.map(pathMatcher),
    entry,
    when: compileConditions(entry.when, spaceDelimited),
  }));
  const tokenMeets = ({ entry, when }: CompiledRoute, claims: Identity['claims']): boolean =>
    entry.public ||
    (entry.issuer !== undefined &&
      claims.iss === entry.issuer &&
      (entry.audiences.length === 0 ||
        audiencesOf(claims).some((a) => entry.audiences.includes(a))) &&
      when(claims));
  return {
    allows: (method, path, caller) =>
      routes.some(
        (route) =>
          (route.methods === null || route.methods.has(method)) &&
          route.paths.some((matches) => matches(path)) &&
          tokenMeets(route, caller.claims),
      ),
  };
}
