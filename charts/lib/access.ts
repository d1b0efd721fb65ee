import {
  type ClaimCondition,
  claimKey,
  KEYCLOAK_ROLES_CLAIM,
  PRESENTER_KEY,
  SCOPE_KEY,
} from '../../contract/claims.js';
import { pathsOverlap } from '../../contract/match.js';
import type { RouteEntry } from '../../contract/routes.js';
import type { AuthorizationPolicySpecRules } from '../imports/security.istio.io.js';

import type { IMeshIdentity } from './identity.js';
import { type IJwtIssuer, rolesClaimOf } from './jwt-issuer.js';
import {
  compilePath,
  type HttpMethod,
  requireExactValues,
  requireNonEmpty,
  validateMethods,
  validatePrincipal,
} from './validation.js';

/** Keycloak's realm roles claim as an Istio `when` key (the default `rolesClaim`). */
export const REALM_ROLES_CLAIM = claimKey(KEYCLOAK_ROLES_CLAIM);
/** The OAuth2 scope claim (Istio splits it on spaces). */
export const SCOPE_CLAIM = SCOPE_KEY;
/** The `azp` claim: the OAuth2 client the token was issued to. */
export { PRESENTER_KEY };

/** Who may call a route, and with what token. Fields are ANDed; list values are ORed. */
export interface RouteAccess {
  /** HTTP methods, upper case. @default - every method */
  readonly methods?: readonly HttpMethod[];
  /**
   * Paths: exact (`/api/orders`), a sub-tree (`/api/public/*`) or a template
   * (`/api/orders/{id}`, `{*}`, `{**}`). See `compilePath` for what is rejected.
   */
  readonly paths: readonly string[];
  /** No token needed (the callers still need their mTLS identity). @default false */
  readonly public?: boolean;
  /** Any valid token from the issuer is enough. @default false */
  readonly authenticated?: boolean;
  /**
   * The token must carry one of these roles, in the issuer's `rolesClaim` (Keycloak's
   * `realm_access.roles` unless the issuer says otherwise). @default - no role check
   */
  readonly roles?: readonly string[];
  /** The token's `scope` must contain one of these scopes. @default - no scope check */
  readonly scopes?: readonly string[];
  /** The token must be issued to one of these OAuth2 clients (`azp`). @default - no client check */
  readonly clients?: readonly string[];
}

/** A route after validation, as a service holds it. */
export interface Route {
  readonly methods?: HttpMethod[];
  readonly paths: string[];
  readonly public: boolean;
  readonly roles: string[];
  readonly scopes: string[];
  readonly clients: string[];
  readonly callers: IMeshIdentity[];
}

/** @internal Validates an access rule; throws naming the owner and the value. */
export function validateRoute(
  owner: string,
  access: RouteAccess,
  callers: readonly IMeshIdentity[],
  issuer: IJwtIssuer | undefined,
): Route {
  requireNonEmpty(owner, 'paths', access.paths);
  requireExactValues(owner, 'roles', access.roles);
  requireExactValues(owner, 'scopes', access.scopes);
  requireExactValues(owner, 'clients', access.clients);
  // Every caller, also one not made by MeshIdentity: its principal is rendered as is.
  for (const caller of callers) validatePrincipal(owner, caller.identityName, caller.principal);
  const methods = access.methods === undefined ? undefined : validateMethods(owner, access.methods);
  const paths = access.paths.map((p) => compilePath(owner, p));
  const tokenChecks = [access.roles, access.scopes, access.clients].some((v) => v !== undefined);
  if (access.public && (tokenChecks || access.authenticated)) {
    throw new Error(
      `${owner}: a public route cannot also require a token (authenticated, roles, scopes or clients)`,
    );
  }
  if (!access.public && !access.authenticated && !tokenChecks) {
    throw new Error(
      `${owner}: says nothing about tokens; set 'public: true', 'authenticated: true', 'roles', 'scopes' or 'clients'`,
    );
  }
  if (!access.public && !issuer) {
    throw new Error(
      `${owner}: requires a token but the system has no JWT issuer; add one before token rules`,
    );
  }
  if (callers.length === 0) {
    throw new Error(
      `${owner}: has no caller; expose the service through the gateway or name callers`,
    );
  }
  return {
    methods,
    paths,
    public: access.public ?? false,
    roles: [...(access.roles ?? [])],
    scopes: [...(access.scopes ?? [])],
    clients: [...(access.clients ?? [])],
    callers: [...callers],
  };
}

/** What a route asks of a token, in words: `no token`, `any valid token`, `roles [ADMIN]`... */
export function describeTokenRule(
  route: Pick<Route, 'public' | 'roles' | 'scopes' | 'clients'>,
): string {
  if (route.public) return 'no token';
  const parts = [
    ...(route.roles.length > 0 ? [`roles [${route.roles.join(', ')}]`] : []),
    ...(route.scopes.length > 0 ? [`scopes [${route.scopes.join(', ')}]`] : []),
    ...(route.clients.length > 0 ? [`clients [${route.clients.join(', ')}]`] : []),
  ];
  return parts.length > 0 ? parts.join(' and ') : 'any valid token';
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0');

/**
 * @internal Where two routes of one workload (or one gateway host) meet: a method both
 * take and a path both match, for a caller both admit, while they ask different things of the
 * token. ALLOW rules are ORed, so on that overlap the weaker one wins and the other's
 * requirement silently does not hold (a public `/api/*` makes `GET /api/admin/x` with
 * `roles: ['ADMIN']` public). Undefined when they do not conflict.
 */
export function routeConflict(
  a: Pick<Route, 'methods' | 'paths' | 'public' | 'roles' | 'scopes' | 'clients'> & {
    readonly callers?: readonly IMeshIdentity[];
  },
  b: typeof a,
): string | undefined {
  const sameToken =
    a.public === b.public &&
    sameSet(a.roles, b.roles) &&
    sameSet(a.scopes, b.scopes) &&
    sameSet(a.clients, b.clients);
  if (sameToken) return undefined;
  if (a.callers !== undefined && b.callers !== undefined) {
    const theirs = new Set(b.callers.map((c) => c.principal));
    if (!a.callers.some((c) => theirs.has(c.principal))) return undefined;
  }
  const methods =
    a.methods === undefined
      ? (b.methods ?? ['*'])
      : b.methods === undefined
        ? a.methods
        : a.methods.filter((m) => b.methods?.includes(m));
  if (methods.length === 0) return undefined;
  for (const p of a.paths) {
    const q = b.paths.find((x) => pathsOverlap(p, x));
    if (q !== undefined) {
      return `${methods.join('|')} '${p}' and '${q}' overlap, and the routes ask for ${describeTokenRule(a)} and ${describeTokenRule(b)}: ALLOW rules are ORed, so on the overlap the weaker one wins; make the paths disjoint or give both the same token rule`;
    }
  }
  return undefined;
}

/** @internal The key that makes two routes duplicates: same method and same path. */
export function routeKeys(route: Route): string[] {
  return (route.methods ?? ['*']).flatMap((m) => route.paths.map((p) => `${m} ${p}`));
}

/**
 * @internal The token conditions of a route as Istio `when` entries: its roles in the
 * issuer's roles claim, its scopes, its clients (`azp`). Istio ANDs the entries.
 */
export function claimConditions(
  route: Pick<Route, 'roles' | 'scopes' | 'clients'>,
  issuer: IJwtIssuer | undefined,
): ClaimCondition[] {
  const rolesKey = claimKey(issuer ? rolesClaimOf(issuer) : KEYCLOAK_ROLES_CLAIM);
  return [
    ...(route.roles.length > 0 ? [{ key: rolesKey, values: [...route.roles] }] : []),
    ...(route.scopes.length > 0 ? [{ key: SCOPE_KEY, values: [...route.scopes] }] : []),
    ...(route.clients.length > 0 ? [{ key: PRESENTER_KEY, values: [...route.clients] }] : []),
  ];
}

/** @internal Compiles a route to one ALLOW rule: callers by principal, token by issuer and claims. */
export function renderRule(
  route: Route,
  issuer: IJwtIssuer | undefined,
): AuthorizationPolicySpecRules {
  const principals = [...new Set(route.callers.map((c) => c.principal))].sort();
  const when = route.public ? [] : claimConditions(route, issuer);
  const requestPrincipals = route.public || !issuer ? undefined : [`${issuer.issuer}/*`];
  return {
    from: [{ source: { principals, ...(requestPrincipals ? { requestPrincipals } : {}) } }],
    to: [
      { operation: { ...(route.methods ? { methods: route.methods } : {}), paths: route.paths } },
    ],
    ...(when.length > 0 ? { when: when.map((c) => ({ key: c.key, values: [...c.values] })) } : {}),
  };
}

/** @internal The route as the `meshward.io/routes` annotation carries it (see contract/routes.ts). */
export function describeRoute(route: Route, issuer: IJwtIssuer | undefined): RouteEntry {
  const token = !route.public && issuer !== undefined;
  return {
    methods: route.methods ?? null,
    paths: route.paths,
    principals: [...new Set(route.callers.map((c) => c.principal))].sort(),
    public: route.public,
    ...(token ? { issuer: issuer.issuer } : {}),
    audiences: token ? [...issuer.audiences] : [],
    when: token ? claimConditions(route, issuer) : [],
  };
}
