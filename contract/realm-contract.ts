/**
 * The realm ↔ policy contract: what the AuthorizationPolicies and RequestAuthentications of a
 * system ask of the tokens of an issuer, against what its Keycloak realm really issues to whom.
 * One implementation for the constructs (a synth-time validation of `Keycloak`) and for
 * `meshward lint` (codes MW201–MW208). Imports nothing but the contract.
 */

import {
  AUDIENCES_KEY,
  type ClaimCondition,
  claimStrings,
  isTokenKey,
  parseClaimKey,
  PRESENTER_KEY,
  SCOPE_KEY,
} from './claims.js';
import { isObject, objectsIn, stringsIn } from './json.js';
import {
  type RealmModel,
  type RealmPrincipal,
  realmPrincipals,
  scopePermitted,
} from './keycloak-realm.js';
import { stringMatcher } from './match.js';

/** One rule of an AuthorizationPolicy, as the contract sees it. */
export interface PolicyTokenRule {
  /** `AuthorizationPolicy shop/order-service` */
  readonly object: string;
  /** `rule 3 (GET /api/orders/admin/all)` */
  readonly where: string;
  /** What the rule's `to` covers: `GET /api/orders/admin/all`, or `every request`. */
  readonly operations: string;
  readonly action: 'ALLOW' | 'DENY';
  /** The issuer parts of the rule's `requestPrincipals` patterns; empty = none written. */
  readonly issuers: readonly string[];
  /** The rule's `when` conditions about the token. */
  readonly conditions: readonly ClaimCondition[];
}

/** The audiences a RequestAuthentication demands of an issuer's tokens. */
export interface AudienceDemand {
  /** `RequestAuthentication shop/jwt` */
  readonly object: string;
  readonly issuer: string;
  readonly audiences: readonly string[];
}

export interface ContractProblem {
  readonly code: string;
  readonly severity: 'error' | 'warning';
  readonly object: string;
  readonly message: string;
  readonly fix: string;
}

/** The MW codes of the contract, with their one-line titles (the lint registry lists them). */
export const REALM_CONTRACT_RULES: Readonly<Record<string, string>> = {
  MW201: 'a policy checks a claim that no token of the realm carries',
  MW202: 'a policy checks a role the realm does not define or nobody holds',
  MW203: 'a policy checks a scope that no client of the realm can put into a token',
  MW204: 'a RequestAuthentication demands an audience no client of the realm maps',
  MW205: 'a policy names a client (azp) the realm does not have',
  MW206: 'tokens for the mesh carry no sub (requestPrincipals never match)',
  MW207: 'a route guarded only by a scope that any user of a public client can obtain',
  MW208: 'a client can obtain more than any policy checks',
};

/** Claims Keycloak writes into every access token without a mapper. */
const ALWAYS_PRESENT = new Set(['iss', 'typ', 'azp', 'scope', 'exp', 'iat', 'jti', 'sid']);
/** OpenID Connect's and Keycloak's own scopes: about the login, not about authorization. */
const OIDC_SCOPES = new Set([
  'openid',
  'profile',
  'email',
  'address',
  'phone',
  'offline_access',
  'roles',
  'web-origins',
  'basic',
  'acr',
  'microprofile-jwt',
  'organization',
  'service_account',
]);

const strs = stringsIn;

/** The issuer part of a `requestPrincipals` pattern: Istio splits it at its last `/`. */
export function patternIssuer(pattern: string): string {
  if (pattern === '*') return '*';
  const cut = pattern.lastIndexOf('/');
  return cut < 0 ? pattern : pattern.slice(0, cut);
}

/** What one AuthorizationPolicy rule (JSON) asks of the token: its request principals and token `when`s. */
export function tokenPartsOf(rule: unknown): {
  readonly requestPrincipals: string[];
  readonly conditions: ClaimCondition[];
} {
  if (!isObject(rule)) return { requestPrincipals: [], conditions: [] };
  const sources = objectsIn(rule.from).map((f) => (isObject(f.source) ? f.source : {}));
  return {
    requestPrincipals: sources.flatMap((s) => strs(s.requestPrincipals)),
    conditions: objectsIn(rule.when)
      .filter((w) => typeof w.key === 'string' && isTokenKey(w.key))
      .map((w) => ({ key: String(w.key), values: strs(w.values) }))
      .filter((c) => c.values.length > 0),
  };
}

/** The audiences each jwtRule of a RequestAuthentication (JSON) demands of its issuer's tokens. */
export function audienceDemands(requestAuthentication: unknown, object: string): AudienceDemand[] {
  const spec = isObject(requestAuthentication) ? requestAuthentication.spec : undefined;
  return objectsIn(isObject(spec) ? spec.jwtRules : undefined).map((r) => ({
    object,
    issuer: typeof r.issuer === 'string' ? r.issuer : '',
    audiences: strs(r.audiences),
  }));
}

/** The rules of an AuthorizationPolicy (its JSON form) that say something about tokens. */
export function policyTokenRules(policy: unknown, object: string): PolicyTokenRule[] {
  if (!isObject(policy) || !isObject(policy.spec)) return [];
  const action =
    policy.spec.action === 'DENY'
      ? 'DENY'
      : policy.spec.action === undefined || policy.spec.action === 'ALLOW'
        ? 'ALLOW'
        : undefined;
  if (action === undefined) return [];
  const rules = Array.isArray(policy.spec.rules) ? policy.spec.rules.filter(isObject) : [];
  return rules.flatMap((rule, i) => {
    const { requestPrincipals, conditions } = tokenPartsOf(rule);
    const issuers = [...new Set(requestPrincipals.map(patternIssuer))];
    if (issuers.length === 0 && conditions.length === 0) return [];
    const operations = (Array.isArray(rule.to) ? rule.to.filter(isObject) : []).flatMap((t) => {
      const op = isObject(t.operation) ? t.operation : {};
      const methods = strs(op.methods);
      const paths = strs(op.paths);
      return [
        `${methods.length > 0 ? methods.join(',') : '*'} ${paths.length > 0 ? paths.join(' ') : '*'}`,
      ];
    });
    return [
      {
        object,
        where: `rule ${i}${operations.length > 0 ? ` (${operations.join('; ')})` : ''}`,
        operations: operations.length > 0 ? operations.join('; ') : 'every request',
        action,
        issuers,
        conditions,
      },
    ];
  });
}

/** Whether a rule asks for tokens of the realm's issuer. */
function concerns(rule: PolicyTokenRule, model: RealmModel, onlyRealm: boolean): boolean {
  if (rule.issuers.length === 0) return onlyRealm && rule.conditions.length > 0;
  return (
    rule.issuers.some((i) => i !== '*' && stringMatcher(i)(model.issuer)) ||
    rule.issuers.includes('*')
  );
}

/** The claim paths some token of the realm can carry. */
function carriedClaims(model: RealmModel): string[][] {
  const paths: string[][] = [['sub'], ['aud']];
  for (const mapper of [
    ...[...model.scopes.values()].flatMap((s) => s.mappers),
    ...model.clients.flatMap((c) => c.mappers),
  ]) {
    if (mapper.kind === 'realm-roles' || mapper.kind === 'claim') paths.push([...mapper.claim]);
    if (mapper.kind === 'other' && mapper.claim !== undefined) paths.push([...mapper.claim]);
  }
  return paths;
}

/** The role claims of the realm: where its realm-role mappers put roles. */
function roleClaims(model: RealmModel): string[][] {
  return [
    ...[...model.scopes.values()].flatMap((s) => s.mappers),
    ...model.clients.flatMap((c) => c.mappers),
  ].flatMap((m) => (m.kind === 'realm-roles' ? [[...m.claim]] : []));
}

const samePath = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);
const isPrefix = (prefix: readonly string[], path: readonly string[]) =>
  prefix.length <= path.length && prefix.every((x, i) => x === path[i]);

/**
 * Checks the realm against the policies. `onlyRealm`: this is the only realm known, so rules
 * with claim conditions but no `requestPrincipals` are taken to be about it.
 */
export function checkRealmContract(
  model: RealmModel,
  rules: readonly PolicyTokenRule[],
  demands: readonly AudienceDemand[],
  options: {
    readonly onlyRealm?: boolean;
    /** The object findings about the realm itself name (`ConfigMap auth/keycloak-realm`). */
    readonly realmObject?: string;
  } = {},
): ContractProblem[] {
  const problems: ContractProblem[] = [];
  const realm = `realm '${model.name}'`;
  const realmObject = options.realmObject ?? realm;
  const principals = realmPrincipals(model);
  const mine = rules.filter((r) => concerns(r, model, options.onlyRealm ?? false));
  const carried = carriedClaims(model);
  const roleKeys = roleClaims(model);
  const clients = new Map(model.clients.map((c) => [c.clientId, c]));
  const holdersOf = (role: string) =>
    model.subjects.filter((s) => s.roles.includes(role)).flatMap((s) => s.holders);
  const checkedScopes = new Set<string>();
  const checkedRoles = new Set<string>();
  const report = (p: ContractProblem) => {
    if (
      !problems.some((q) => q.code === p.code && q.object === p.object && q.message === p.message)
    ) {
      problems.push(p);
    }
  };

  for (const rule of mine) {
    const at = rule.where;
    for (const c of rule.conditions) {
      const path = parseClaimKey(c.key);
      if (c.key === SCOPE_KEY) {
        for (const scope of c.values) {
          checkedScopes.add(scope);
          const s = model.scopes.get(scope);
          const assigned = model.clients.filter(
            (cl) => cl.defaultScopes.includes(scope) || cl.optionalScopes.includes(scope),
          );
          if (s === undefined || assigned.length === 0 || !s.inTokenScope) {
            report({
              code: 'MW203',
              severity: 'error',
              object: rule.object,
              message: `${at} requires scope '${scope}', but ${
                s === undefined
                  ? `${realm} has no such client scope`
                  : assigned.length === 0
                    ? `no client of ${realm} has it as a default or optional scope`
                    : `its include.in.token.scope is false, so it never appears in 'scope'`
              }: the rule never matches`,
              fix: `define client scope '${scope}' in the realm and assign it to the clients that need it`,
            });
          }
        }
      } else if (c.key === PRESENTER_KEY) {
        for (const client of c.values) {
          const cl = clients.get(client);
          if (cl === undefined) {
            report({
              code: 'MW205',
              severity: rule.action === 'ALLOW' ? 'error' : 'warning',
              object: rule.object,
              message: `${at} requires azp '${client}', but ${realm} has no enabled client '${client}' (clients: ${[...clients.keys()].join(', ')})`,
              fix: `name a client of the realm, or add client '${client}'`,
            });
          }
        }
      } else if (c.key === AUDIENCES_KEY) {
        for (const audience of c.values) {
          if (!principals.some((p) => audiencesOf(p).includes(audience))) {
            report({
              code: 'MW204',
              severity: 'error',
              object: rule.object,
              message: `${at} requires audience '${audience}', but no client of ${realm} maps it into its tokens`,
              fix: `add an audience mapper for '${audience}' to a client scope of the clients that call here`,
            });
          }
        }
      } else if (path !== undefined) {
        const isRoles = roleKeys.some((k) => samePath(k, path));
        if (isRoles) {
          for (const role of c.values) {
            checkedRoles.add(role);
            if (!model.roles.includes(role)) {
              report({
                code: 'MW202',
                severity: 'error',
                object: rule.object,
                message: `${at} requires role '${role}', which ${realm} does not define (roles: ${model.roles.join(', ') || 'none'})`,
                fix: `add role '${role}' to the realm, or fix the route's role`,
              });
            } else if (rule.action === 'ALLOW' && holdersOf(role).length === 0) {
              report({
                code: 'MW202',
                severity: 'error',
                object: rule.object,
                message: `${at} requires role '${role}', which no user, user class or service account of ${realm} holds: nobody passes the rule`,
                fix: `give the role to the users who need it (devUsers, or userClasses for a realm that lists no users)`,
              });
            }
          }
        } else if (
          !(path.length === 1 && ALWAYS_PRESENT.has(path[0] ?? '')) &&
          !carried.some((k) => isPrefix(k, path) || isPrefix(path, k))
        ) {
          report({
            code: 'MW201',
            severity: rule.action === 'ALLOW' ? 'error' : 'warning',
            object: rule.object,
            message: `${at} checks claim '${path.join('.')}', which no mapper of ${realm} puts into access tokens${
              roleKeys.length > 0
                ? ` (its roles are in '${roleKeys.map((k) => k.join('.')).join("', '")}')`
                : ''
            }`,
            fix: `point the issuer's rolesClaim (or the condition) at a claim the realm maps, or add a mapper`,
          });
        }
      }
    }

    // The escalation: a scope alone stands between every user of a public client and the route.
    const scopeConditions = rule.conditions.filter((c) => c.key === SCOPE_KEY);
    const others = rule.conditions.filter((c) => c.key !== SCOPE_KEY);
    if (rule.action === 'ALLOW' && scopeConditions.length > 0 && others.length === 0) {
      for (const scope of scopeConditions.flatMap((c) => c.values)) {
        const open = model.clients.find(
          (cl) =>
            cl.public &&
            cl.login &&
            (cl.defaultScopes.includes(scope) || cl.optionalScopes.includes(scope)) &&
            anyUserObtains(model, scope),
        );
        if (open !== undefined) {
          report({
            code: 'MW207',
            severity: 'error',
            object: rule.object,
            message: `scope '${scope}' guards ${rule.operations} but any user of public client '${open.clientId}' can obtain it: grant it to roles, or require a role on the route`,
            fix: `give client scope '${scope}' role scope mappings (grantedToRoles), or add roles to the route`,
          });
        }
      }
    }
  }

  // Audiences and sub of the tokens meant for the mesh.
  for (const demand of demands.filter((d) => d.issuer === model.issuer)) {
    for (const audience of demand.audiences) {
      if (!principals.some((p) => audiencesOf(p).includes(audience))) {
        report({
          code: 'MW204',
          severity: 'error',
          object: demand.object,
          message: `requires audience '${audience}', but no client of ${realm} maps it into its tokens: every token is refused with 403`,
          fix: `add a client scope with an audience mapper for '${audience}' to the clients' default scopes`,
        });
      }
    }
    for (const p of principals) {
      const meant =
        demand.audiences.length === 0 || audiencesOf(p).some((a) => demand.audiences.includes(a));
      if (meant && p.claims.sub === undefined) {
        report({
          code: 'MW206',
          severity: 'error',
          object: demand.object,
          message: `tokens of client '${p.client}' of ${realm} carry no 'sub': Istio's requestPrincipals never match them`,
          fix: `add a client scope with the subject mapper (Keycloak's 'basic') to client '${p.client}'s default scopes`,
        });
      }
    }
  }

  // The reverse: what a client can obtain that no policy checks.
  if (mine.length > 0) {
    for (const client of model.clients) {
      const obtainable = [...client.defaultScopes, ...client.optionalScopes].filter((s) => {
        const scope = model.scopes.get(s);
        return (
          scope !== undefined && scope.inTokenScope && !OIDC_SCOPES.has(s) && !checkedScopes.has(s)
        );
      });
      for (const scope of obtainable) {
        report({
          code: 'MW208',
          severity: 'warning',
          object: realmObject,
          message: `client '${client.clientId}' of ${realm} can obtain scope '${scope}', which no policy checks`,
          fix: `remove scope '${scope}' from client '${client.clientId}', or use it on a route`,
        });
      }
      const account = model.subjects.find((s) => s.client === client.clientId);
      for (const role of account?.roles ?? []) {
        if (!checkedRoles.has(role)) {
          report({
            code: 'MW208',
            severity: 'warning',
            object: realmObject,
            message: `the service account of client '${client.clientId}' of ${realm} holds role '${role}', which no policy checks`,
            fix: `remove role '${role}' from the service account of client '${client.clientId}'`,
          });
        }
      }
    }
  }
  return problems;
}

/** Whether every user can obtain the scope: it has no role scope mappings, or all users hold one. */
function anyUserObtains(model: RealmModel, scope: string): boolean {
  const grantedTo = model.scopes.get(scope)?.grantedTo ?? [];
  const users = model.subjects.filter((s) => s.kind === 'user');
  return (
    grantedTo.length === 0 ||
    (users.length > 0 && users.every((u) => scopePermitted(model, scope, u.roles)))
  );
}

function audiencesOf(p: RealmPrincipal): string[] {
  return claimStrings(p.claims, ['aud']) ?? [];
}
