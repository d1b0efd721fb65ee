/**
 * What a Keycloak realm really issues, read from its realm import JSON (a
 * `RealmRepresentation`, the file `kc.sh start --import-realm` reads or an export of a running
 * Keycloak): which clients users can log in to, which roles each kind of user holds, which
 * client scopes each of them can obtain, and the claims of the access token that results.
 * The policy engine builds the access matrix's principals from it; the constructs and
 * `meshward lint` check the realm ↔ policy contract with it. Imports nothing but the contract.
 *
 * Keycloak's rules modelled here (Keycloak 26):
 * - a client scope with role scope mappings is applied only to subjects holding at least one
 *   of those roles; without any, everyone who can use the client can obtain it (server
 *   administration guide, "Client scopes permissions") — default and optional scopes alike;
 * - `sub` is in the access token only through a scope with the `oidc-sub-mapper` (Keycloak ≥ 25:
 *   the `basic` scope); `aud` only through audience mappers;
 * - realm roles go where an `oidc-usermodel-realm-role-mapper` says (`claim.name`, a dotted
 *   path; `\.` escapes a dot), all of the subject's roles with `fullScopeAllowed`, else only
 *   those in the client's and the applied scopes' role scope mappings;
 * - `scope` lists `openid` (user logins) and every applied scope whose
 *   `include.in.token.scope` is not `false`;
 * - composite roles and group roles count as held;
 * - a service account Keycloak creates itself (a confidential client with service accounts and
 *   no user entry in the JSON) holds the realm's default role (`default-roles-<realm>`:
 *   `offline_access`, `uma_authorization`), as do users created after import; users imported
 *   with `realmRoles` hold exactly those (checked against a real Keycloak 26 in the tier).
 * Not modelled (listed in `unmodeled`): mapper types other than sub, audience, realm roles and
 * hard-coded claims; client roles; the default role of users created later (user classes).
 */

import { KEYCLOAK_ROLES_CLAIM } from './claims.js';
import { isObject, type JsonObject, list, objectsIn, stringsIn } from './json.js';

/** The annotation on a realm ConfigMap naming the realm's issuer (`iss`). */
export const REALM_ISSUER_ANNOTATION = 'meshward.io/issuer';
/** The annotation on a realm ConfigMap listing the kinds of users it will hold (JSON). */
export const USER_CLASSES_ANNOTATION = 'meshward.io/user-classes';

/** A kind of user a realm holds, by the realm roles they have: `customer` = `['USER']`. */
export interface RealmUserClass {
  readonly name: string;
  readonly roles: readonly string[];
}

export type RealmMapper =
  | { readonly kind: 'subject' }
  | { readonly kind: 'audience'; readonly audience: string }
  | {
      readonly kind: 'realm-roles';
      readonly claim: readonly string[];
      readonly prefix: string;
      readonly multivalued: boolean;
    }
  | { readonly kind: 'claim'; readonly claim: readonly string[]; readonly value: unknown }
  /** A mapper type meshward does not model; `claim` when its config names one. */
  | { readonly kind: 'other'; readonly type: string; readonly claim?: readonly string[] };

export interface RealmScope {
  readonly name: string;
  /** Whether the scope's name appears in the `scope` claim. */
  readonly inTokenScope: boolean;
  readonly mappers: readonly RealmMapper[];
  /** Role scope mappings: only holders of one of these roles get the scope; empty = everyone. */
  readonly grantedTo: readonly string[];
}

export interface RealmClientModel {
  readonly clientId: string;
  readonly public: boolean;
  /** Users can log in to it (authorization code, implicit or password grant). */
  readonly login: boolean;
  /** It can get client-credentials tokens of its own (a confidential client's service account). */
  readonly serviceAccount: boolean;
  readonly fullScopeAllowed: boolean;
  readonly defaultScopes: readonly string[];
  readonly optionalScopes: readonly string[];
  readonly mappers: readonly RealmMapper[];
  /** Realm roles in the client's own role scope mappings (used without `fullScopeAllowed`). */
  readonly scopeRoles: readonly string[];
}

/** Someone who can hold a token: a kind of user, or a client's service account. */
export interface RealmSubject {
  readonly kind: 'user' | 'service-account';
  /** Effective realm roles (composites and groups expanded), in the realm's role order. */
  readonly roles: readonly string[];
  /** Who they are: usernames and user-class names (users), or the client id. */
  readonly holders: readonly string[];
  /** The client whose service account this is. */
  readonly client?: string;
}

export interface RealmModel {
  readonly name: string;
  readonly issuer: string;
  /** Realm roles in declaration order. */
  readonly roles: readonly string[];
  readonly scopes: ReadonlyMap<string, RealmScope>;
  readonly clients: readonly RealmClientModel[];
  readonly subjects: readonly RealmSubject[];
  /** What the model leaves out, for the matrix header and lint. */
  readonly unmodeled: readonly string[];
}

/** A token the realm can issue, and who gets it. */
export interface RealmPrincipal {
  /** The access matrix's column: `USER`, `USER+ADMIN +admin:read`, `payment-reconciler (client)`. */
  readonly name: string;
  readonly kind: 'user' | 'client';
  /** The client the token is issued to (`azp`). */
  readonly client: string;
  readonly publicClient: boolean;
  readonly roles: readonly string[];
  /** The optional scopes asked for and granted. */
  readonly requested: readonly string[];
  /** Every client scope applied to the token (default and requested). */
  readonly scopes: readonly string[];
  readonly holders: readonly string[];
  /** The access token's claims (`sub` is a stand-in for the real user id). */
  readonly claims: Readonly<Record<string, unknown>>;
}

type Json = JsonObject;
const names = stringsIn;
const objects = objectsIn;

/** Keycloak's claim names: dotted paths, `\.` for a literal dot. */
export function keycloakClaimPath(name: string): string[] {
  return name
    .split(/(?<!\\)\./)
    .map((part) => part.replace(/\\\./g, '.'))
    .filter((part) => part.length > 0);
}

function mapperOf(json: Json): RealmMapper {
  const type = typeof json.protocolMapper === 'string' ? json.protocolMapper : '';
  const config = isObject(json.config) ? json.config : {};
  const text = (key: string): string | undefined =>
    typeof config[key] === 'string' ? config[key] : undefined;
  const inAccessToken = text('access.token.claim') !== 'false';
  const claimName = text('claim.name');
  switch (type) {
    case 'oidc-sub-mapper':
      return inAccessToken ? { kind: 'subject' } : { kind: 'other', type };
    case 'oidc-audience-mapper': {
      const audience = text('included.custom.audience') ?? text('included.client.audience');
      return inAccessToken && audience !== undefined && audience !== ''
        ? { kind: 'audience', audience }
        : { kind: 'other', type };
    }
    case 'oidc-usermodel-realm-role-mapper':
      return inAccessToken
        ? {
            kind: 'realm-roles',
            claim: keycloakClaimPath(claimName ?? KEYCLOAK_ROLES_CLAIM.join('.')),
            prefix: text('usermodel.realmRoleMapping.rolePrefix') ?? '',
            multivalued: text('multivalued') !== 'false',
          }
        : { kind: 'other', type };
    case 'oidc-hardcoded-claim-mapper':
      return inAccessToken && claimName !== undefined
        ? { kind: 'claim', claim: keycloakClaimPath(claimName), value: text('claim.value') ?? '' }
        : { kind: 'other', type };
    default:
      return {
        kind: 'other',
        type,
        ...(inAccessToken && claimName !== undefined
          ? { claim: keycloakClaimPath(claimName) }
          : {}),
      };
  }
}

function parseUserClasses(value: unknown, owner: string): RealmUserClass[] {
  return list(value).map((c, i) => {
    if (!isObject(c) || typeof c.name !== 'string' || !Array.isArray(c.roles)) {
      throw new Error(`${owner}: user class [${i}] must be {"name": string, "roles": [string]}`);
    }
    return { name: c.name, roles: names(c.roles) };
  });
}

/** The user classes of a `meshward.io/user-classes` annotation; throws naming `owner`. */
export function decodeUserClasses(text: string, owner: string): RealmUserClass[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${owner}: ${USER_CLASSES_ANNOTATION} is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) {
    throw new Error(`${owner}: ${USER_CLASSES_ANNOTATION} must be a JSON array`);
  }
  return parseUserClasses(value, owner);
}

/**
 * The realm as the token model needs it. `json` is a RealmRepresentation; `userClasses` adds
 * kinds of users to those the JSON lists (a production realm lists none).
 */
export function realmModel(
  json: unknown,
  issuer: string,
  userClasses: readonly RealmUserClass[] = [],
): RealmModel {
  if (!isObject(json) || typeof json.realm !== 'string') {
    throw new Error(`realm JSON for issuer '${issuer}' has no "realm" name`);
  }
  const unmodeled = new Set<string>();
  const roleDefs = objects(isObject(json.roles) ? json.roles.realm : undefined);
  const roles = roleDefs.map((r) => String(r.name));
  const composites = new Map<string, string[]>(
    roleDefs.map((r) => [
      String(r.name),
      r.composite === true && isObject(r.composites) ? names(r.composites.realm) : [],
    ]),
  );
  // Keycloak makes `default-roles-<realm>` (offline_access, uma_authorization) unless the
  // import names its own default role.
  const defaultRole =
    isObject(json.defaultRole) && typeof json.defaultRole.name === 'string'
      ? json.defaultRole.name
      : `default-roles-${json.realm}`;
  if (!composites.has(defaultRole)) {
    composites.set(defaultRole, ['offline_access', 'uma_authorization']);
  }
  const order = (set: Iterable<string>): string[] => {
    const held = new Set(set);
    return [...roles.filter((r) => held.has(r)), ...[...held].filter((r) => !roles.includes(r))];
  };
  const expand = (direct: readonly string[]): string[] => {
    const out = new Set<string>();
    const visit = (role: string) => {
      if (out.has(role)) return;
      out.add(role);
      for (const c of composites.get(role) ?? []) visit(c);
    };
    direct.forEach(visit);
    return order(out);
  };

  const scopeMappings = objects(json.scopeMappings);
  const grantedTo = (key: 'client' | 'clientScope', name: string): string[] =>
    scopeMappings.filter((m) => m[key] === name).flatMap((m) => names(m.roles));
  const scopes = new Map<string, RealmScope>(
    objects(json.clientScopes)
      .filter(
        (s) => typeof s.name === 'string' && (s.protocol ?? 'openid-connect') === 'openid-connect',
      )
      .map((s) => {
        const name = String(s.name);
        const attributes = isObject(s.attributes) ? s.attributes : {};
        return [
          name,
          {
            name,
            inTokenScope: attributes['include.in.token.scope'] !== 'false',
            mappers: objects(s.protocolMappers).map(mapperOf),
            grantedTo: grantedTo('clientScope', name),
          },
        ];
      }),
  );
  const realmDefaults = names(json.defaultDefaultClientScopes);
  const realmOptionals = names(json.defaultOptionalClientScopes);
  const clients: RealmClientModel[] = objects(json.clients)
    .filter((c) => typeof c.clientId === 'string' && c.enabled !== false && c.bearerOnly !== true)
    .filter((c) => (c.protocol ?? 'openid-connect') === 'openid-connect')
    .map((c) => {
      const clientId = String(c.clientId);
      const isPublic = c.publicClient === true;
      return {
        clientId,
        public: isPublic,
        login:
          c.standardFlowEnabled !== false ||
          c.implicitFlowEnabled === true ||
          c.directAccessGrantsEnabled === true,
        serviceAccount: !isPublic && c.serviceAccountsEnabled === true,
        fullScopeAllowed: c.fullScopeAllowed !== false,
        defaultScopes: Array.isArray(c.defaultClientScopes)
          ? names(c.defaultClientScopes)
          : realmDefaults,
        optionalScopes: Array.isArray(c.optionalClientScopes)
          ? names(c.optionalClientScopes)
          : realmOptionals,
        mappers: objects(c.protocolMappers).map(mapperOf),
        scopeRoles: grantedTo('client', clientId),
      };
    });
  for (const mapper of [...scopes.values()].flatMap((s) => s.mappers)) {
    if (mapper.kind === 'other' && mapper.claim !== undefined) {
      unmodeled.add(`mapper '${mapper.type}' (claim ${mapper.claim.join('.')})`);
    }
  }

  // Groups: a member holds the group's roles and those of every group above it.
  const groupRoles = new Map<string, string[]>();
  const walk = (groups: Json[], parentPath: string, inherited: readonly string[]) => {
    for (const g of groups) {
      const path = `${parentPath}/${String(g.name)}`;
      const held = [...inherited, ...names(g.realmRoles)];
      groupRoles.set(path, held);
      walk(objects(g.subGroups), path, held);
    }
  };
  walk(objects(json.groups), '', []);

  const subjects: RealmSubject[] = [];
  const users = new Map<string, { roles: string[]; holders: string[] }>();
  const addUser = (direct: readonly string[], holder: string) => {
    const effective = expand(direct);
    const key = effective.join('\0');
    const entry = users.get(key) ?? { roles: effective, holders: [] };
    entry.holders.push(holder);
    users.set(key, entry);
  };
  for (const u of objects(json.users)) {
    if (u.enabled === false) continue;
    const direct = [
      ...names(u.realmRoles),
      ...names(u.groups).flatMap((path) => groupRoles.get(path) ?? []),
    ];
    if (typeof u.serviceAccountClientId === 'string') {
      subjects.push({
        kind: 'service-account',
        roles: expand(direct),
        holders: [u.serviceAccountClientId],
        client: u.serviceAccountClientId,
      });
    } else {
      addUser(direct, String(u.username));
    }
  }
  for (const c of userClasses) addUser(c.roles, c.name);
  subjects.unshift(
    ...[...users.values()].map((u) => ({
      kind: 'user' as const,
      roles: u.roles,
      holders: u.holders,
    })),
  );
  // A confidential client with a service account but no user entry: Keycloak creates the
  // service account, which gets the realm's default role.
  for (const c of clients.filter((x) => x.serviceAccount)) {
    if (!subjects.some((s) => s.client === c.clientId)) {
      subjects.push({
        kind: 'service-account',
        roles: expand([defaultRole]),
        holders: [c.clientId],
        client: c.clientId,
      });
    }
  }
  if (userClasses.length > 0) {
    unmodeled.add(`the default role '${defaultRole}' of users created after import (user classes)`);
  }
  return {
    name: json.realm,
    issuer,
    roles,
    scopes,
    clients,
    subjects,
    unmodeled: [...unmodeled].sort(),
  };
}

/** Whether Keycloak applies `scope` to a subject holding `roles`. */
export function scopePermitted(
  model: RealmModel,
  scope: string,
  roles: readonly string[],
): boolean {
  const s = model.scopes.get(scope);
  if (s === undefined) return false;
  return s.grantedTo.length === 0 || s.grantedTo.some((r) => roles.includes(r));
}

function setClaim(claims: Json, path: readonly string[], value: unknown): void {
  let at = claims;
  path.slice(0, -1).forEach((segment) => {
    const next = at[segment];
    if (!isObject(next)) at[segment] = {};
    at = at[segment] as Json;
  });
  const last = path.at(-1);
  if (last !== undefined) at[last] = value;
}

/**
 * The access token `subject` gets from `client` when asking for `requested` optional scopes:
 * the scopes Keycloak applies and the claims their mappers write.
 */
export function tokenOf(
  model: RealmModel,
  subject: RealmSubject,
  client: RealmClientModel,
  requested: readonly string[],
): { readonly scopes: string[]; readonly claims: Json } {
  const asked = [
    ...client.defaultScopes,
    ...requested.filter((s) => client.optionalScopes.includes(s)),
  ];
  const applied = [...new Set(asked)].filter((s) => scopePermitted(model, s, subject.roles));
  const appliedScopes = applied.flatMap((s) => model.scopes.get(s) ?? []);
  const login = subject.kind === 'user';
  const claims: Json = {
    iss: model.issuer,
    typ: 'Bearer',
    azp: client.clientId,
    scope: [
      ...(login ? ['openid'] : []),
      ...appliedScopes.filter((s) => s.inTokenScope).map((s) => s.name),
    ].join(' '),
  };
  const visibleRoles = client.fullScopeAllowed
    ? subject.roles
    : subject.roles.filter(
        (r) => client.scopeRoles.includes(r) || appliedScopes.some((s) => s.grantedTo.includes(r)),
      );
  const audiences: string[] = [];
  for (const mapper of [...client.mappers, ...appliedScopes.flatMap((s) => s.mappers)]) {
    switch (mapper.kind) {
      case 'subject':
        claims.sub = login
          ? `user:${subject.holders[0] ?? 'unknown'}`
          : `service-account-${subject.client ?? 'unknown'}`;
        break;
      case 'audience':
        if (!audiences.includes(mapper.audience)) audiences.push(mapper.audience);
        break;
      case 'realm-roles': {
        const values = visibleRoles.map((r) => `${mapper.prefix}${r}`);
        setClaim(claims, mapper.claim, mapper.multivalued ? values : values.join(','));
        break;
      }
      case 'claim':
        setClaim(claims, mapper.claim, mapper.value);
        break;
      case 'other':
        break;
    }
  }
  if (audiences.length === 1) claims.aud = audiences[0];
  else if (audiences.length > 1) claims.aud = audiences;
  return { scopes: applied, claims };
}

const roleLabel = (roles: readonly string[]): string =>
  roles.length === 0 ? 'no roles' : roles.join('+');

/**
 * Every token the realm can issue to the mesh, one per distinct combination: each kind of
 * user (by role set) through each client users can log in to, with its default scopes only and
 * with every optional scope it can obtain; each service account's client-credentials token,
 * likewise. Ordered users first, then clients.
 */
export function realmPrincipals(model: RealmModel): RealmPrincipal[] {
  const out: RealmPrincipal[] = [];
  const loginClients = model.clients.filter((c) => c.login);
  const add = (
    subject: RealmSubject,
    client: RealmClientModel,
    label: string,
    kind: 'user' | 'client',
  ) => {
    const obtainable = client.optionalScopes.filter((s) => scopePermitted(model, s, subject.roles));
    for (const requested of obtainable.length > 0 ? [[], obtainable] : [[]]) {
      const token = tokenOf(model, subject, client, requested);
      out.push({
        name: requested.length > 0 ? `${label} +${requested.join(' +')}` : label,
        kind,
        client: client.clientId,
        publicClient: client.public,
        roles: subject.roles,
        requested,
        scopes: token.scopes,
        holders: subject.holders,
        claims: token.claims,
      });
    }
  };
  for (const subject of model.subjects.filter((s) => s.kind === 'user')) {
    for (const client of loginClients) {
      const via = loginClients.length > 1 ? ` via ${client.clientId}` : '';
      add(subject, client, `${roleLabel(subject.roles)}${via}`, 'user');
    }
  }
  for (const subject of model.subjects.filter((s) => s.kind === 'service-account')) {
    const client = model.clients.find((c) => c.clientId === subject.client);
    if (client?.serviceAccount) add(subject, client, `${client.clientId} (client)`, 'client');
  }
  return out;
}
