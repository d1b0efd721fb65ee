/**
 * The access matrix's columns: the tokens that can really arrive. For an issuer whose Keycloak
 * realm is known, one per token the realm issues (each kind of user through each login client,
 * with and without the optional scopes it can obtain; each service account); for any other
 * issuer, one per claim value the policies check (and per rule's combination of them), since
 * nothing says who holds what. Plus no token, a forged (or expired) token and a valid token of
 * an issuer nobody trusts. Nothing here knows any system's role or scope names.
 */
import {
  AUDIENCES_KEY,
  type ClaimCondition,
  parseClaimKey,
  PRESENTER_KEY,
  REQUEST_PRINCIPAL_KEY,
  ALWAYS_SPACE_DELIMITED,
} from '../../contract/claims.js';
import { type RealmPrincipal, realmPrincipals } from '../../contract/keycloak-realm.js';
import { patternIssuer, tokenPartsOf } from '../../contract/realm-contract.js';
import type { RouteEntry } from '../../contract/routes.js';
import { stringMatcher } from './match.js';
import { isRecord, type Manifests, type RequestToken } from './model.js';
import type { KnownRealm } from './realms.js';
import { jwtIssuers } from './realms.js';
import { routesOf } from './route-intents.js';
import { workloadsOf } from './workloads.js';

export type PrincipalKind = 'none' | 'user' | 'client' | 'claims' | 'forged' | 'other-issuer';

/** One column of the access matrix: who presents which token. */
export interface MatrixPrincipal {
  /** The column: a kind of user by its roles (`R1+R2`), `+scope` for optional scopes, `<client> (client)`, `no token`. */
  readonly name: string;
  readonly kind: PrincipalKind;
  /** The token presented; undefined for `no token`. */
  readonly token: RequestToken | undefined;
  /** The issuer the token is of. */
  readonly issuer?: string;
  /** The realm's principal, when the column comes from a known realm. */
  readonly realm?: RealmPrincipal;
}

export interface MatrixPrincipals {
  readonly principals: readonly MatrixPrincipal[];
  /** Where the columns come from, one line per issuer (the matrix header prints them). */
  readonly notes: readonly string[];
}

/** The issuer of tokens nobody trusts. */
export const OTHER_ISSUER = 'https://other-issuer.invalid';
const SUBJECT = 'meshward-matrix-subject';

interface JwtRuleInfo {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly spaceDelimited: readonly string[];
}

function jwtRuleInfos(m: Manifests): JwtRuleInfo[] {
  return m.objects
    .filter((o) => o.kind === 'RequestAuthentication')
    .flatMap((o) => (Array.isArray(o.spec?.jwtRules) ? o.spec.jwtRules.filter(isRecord) : []))
    .flatMap((r) =>
      typeof r.issuer === 'string'
        ? [
            {
              issuer: r.issuer,
              audiences: Array.isArray(r.audiences) ? r.audiences.map(String) : [],
              spaceDelimited: Array.isArray(r.spaceDelimitedClaims)
                ? r.spaceDelimitedClaims.map(String)
                : [],
            },
          ]
        : [],
    );
}

/** Every rule's token conditions, with the issuers its requestPrincipals name. */
function tokenRules(m: Manifests): { issuers: string[]; conditions: ClaimCondition[] }[] {
  const out: { issuers: string[]; conditions: ClaimCondition[] }[] = [];
  for (const ap of m.objects.filter((o) => o.kind === 'AuthorizationPolicy')) {
    const rules = Array.isArray(ap.spec?.rules) ? ap.spec.rules : [];
    for (const rule of rules) {
      const { requestPrincipals, conditions } = tokenPartsOf(rule);
      // A pattern naming a subject (`<iss>/service-account-x`) asks for that `sub`.
      const subjects = requestPrincipals.filter((p) => !p.endsWith('/*') && p !== '*');
      const asked = [
        ...conditions,
        ...(subjects.length > 0 ? [{ key: REQUEST_PRINCIPAL_KEY, values: subjects }] : []),
      ];
      if (asked.length > 0) {
        out.push({ issuers: requestPrincipals.map(patternIssuer), conditions: asked });
      }
    }
  }
  // The route intents' conditions, for intents whose policies are missing or different.
  for (const w of workloadsOf(m)) {
    let routes: RouteEntry[];
    try {
      routes = routesOf(m, w) ?? [];
    } catch {
      continue;
    }
    for (const r of routes) {
      if (r.when.length > 0 && r.issuer !== undefined) {
        out.push({ issuers: [r.issuer], conditions: [...r.when] });
      }
    }
  }
  return out;
}

/** A concrete value that matches an Istio string pattern. */
function sample(pattern: string): string {
  if (pattern === '*') return 'x';
  if (pattern.endsWith('*')) return `${pattern.slice(0, -1)}x`;
  if (pattern.startsWith('*')) return `x${pattern.slice(1)}`;
  return pattern;
}

function withCondition(
  claims: Record<string, unknown>,
  condition: ClaimCondition,
  value: string,
  spaceDelimited: readonly string[],
  issuer: string,
): Record<string, unknown> {
  const out = structuredClone(claims);
  const v = sample(value);
  const path = parseClaimKey(condition.key);
  if (path !== undefined) {
    let at = out;
    for (const segment of path.slice(0, -1)) {
      if (!isRecord(at[segment])) at[segment] = {};
      at = at[segment] as Record<string, unknown>;
    }
    const last = path[path.length - 1] ?? '';
    const split =
      ALWAYS_SPACE_DELIMITED.includes(last) ||
      spaceDelimited.includes(last) ||
      spaceDelimited.includes(path.join('.'));
    const prior = at[last];
    if (split) at[last] = typeof prior === 'string' && prior !== '' ? `${prior} ${v}` : v;
    else at[last] = [...(Array.isArray(prior) ? (prior as unknown[]) : []), v];
  } else if (condition.key === PRESENTER_KEY) {
    out.azp = v;
  } else if (condition.key === AUDIENCES_KEY) {
    out.aud = [v];
  } else if (condition.key === REQUEST_PRINCIPAL_KEY) {
    // Istio splits the pattern at its last '/' and matches iss and sub separately.
    const cut = value.lastIndexOf('/');
    if (cut > 0 && stringMatcher(value.slice(0, cut))(issuer))
      out.sub = sample(value.slice(cut + 1));
  }
  return out;
}

function conditionLabel(condition: ClaimCondition, value: string): string {
  const path = parseClaimKey(condition.key);
  if (path !== undefined) return `${path.join('.')}=${value}`;
  if (condition.key === PRESENTER_KEY) return `azp=${value}`;
  if (condition.key === AUDIENCES_KEY) return `aud=${value}`;
  return `sub=${value.slice(value.lastIndexOf('/') + 1)}`;
}

/** Columns from the claim conditions the policies check, for an issuer without a known realm. */
function derivedPrincipals(m: Manifests, rule: JwtRuleInfo, several: boolean): MatrixPrincipal[] {
  const base: Record<string, unknown> = {
    iss: rule.issuer,
    sub: SUBJECT,
    typ: 'Bearer',
    ...(rule.audiences.length > 0 ? { aud: [...rule.audiences] } : {}),
  };
  const suffix = several ? ` (${rule.issuer})` : '';
  const out = new Map<string, Record<string, unknown>>([[`any token${suffix}`, base]]);
  const mine = tokenRules(m).filter(
    (r) =>
      r.issuers.length === 0 || r.issuers.some((i) => i === '*' || stringMatcher(i)(rule.issuer)),
  );
  for (const r of mine) {
    for (const c of r.conditions) {
      for (const value of c.values) {
        const label = `${conditionLabel(c, value)}${suffix}`;
        if (!out.has(label)) {
          out.set(label, withCondition(base, c, value, rule.spaceDelimited, rule.issuer));
        }
      }
    }
  }
  for (const r of mine.filter((x) => x.conditions.length > 1)) {
    let claims = base;
    const parts: string[] = [];
    for (const c of r.conditions) {
      const value = c.values[0] ?? '';
      claims = withCondition(claims, c, value, rule.spaceDelimited, rule.issuer);
      parts.push(conditionLabel(c, value));
    }
    const label = `${parts.join(' & ')}${suffix}`;
    if (!out.has(label)) out.set(label, claims);
  }
  return [...out.entries()].map(([name, claims]) => ({
    name,
    kind: 'claims',
    token: { claims },
    issuer: rule.issuer,
  }));
}

/** Every claim of every derived token of an issuer, merged: what a forger would claim. */
function mergeClaims(tokens: readonly Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const merge = (into: Record<string, unknown>, from: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(from)) {
      const prior = into[k];
      if (isRecord(v) && isRecord(prior)) merge(prior, v);
      else if (Array.isArray(v) && Array.isArray(prior))
        into[k] = [...new Set([...(prior as unknown[]), ...(v as unknown[])])];
      else if (typeof v === 'string' && typeof prior === 'string' && k === 'scope')
        into[k] = [...new Set(`${prior} ${v}`.split(' ').filter(Boolean))].join(' ');
      else into[k] = structuredClone(v);
    }
  };
  for (const t of tokens) merge(out, t);
  return out;
}

/** The matrix's columns for the manifests and the realms known. */
export function matrixPrincipals(m: Manifests, realms: readonly KnownRealm[]): MatrixPrincipals {
  const notes: string[] = [];
  const principals: MatrixPrincipal[] = [{ name: 'no token', kind: 'none', token: undefined }];
  const rules = jwtRuleInfos(m);
  const issuers = jwtIssuers(m);
  const strongest: Record<string, unknown>[] = [];
  for (const issuer of issuers) {
    const realm = realms.find((r) => r.model.issuer === issuer);
    if (realm !== undefined) {
      const found = realmPrincipals(realm.model);
      const several = issuers.length > 1;
      for (const p of found) {
        principals.push({
          name: several ? `${p.name} (${realm.model.name})` : p.name,
          kind: p.kind,
          token: { claims: { ...p.claims } },
          issuer,
          realm: p,
        });
      }
      const top = [...found]
        .sort((a, b) => b.roles.length + b.requested.length - (a.roles.length + a.requested.length))
        .at(0);
      if (top !== undefined) strongest.push({ ...top.claims });
      const who = found
        .filter((p) => p.kind === 'user' && p.requested.length === 0)
        .map((p) => `${p.name} = ${p.holders.join(', ')}`);
      notes.push(
        `principals of realm '${realm.model.name}' (${realm.source}, issuer ${issuer})${
          who.length > 0 ? `: ${who.join('; ')}` : ''
        }${realm.model.unmodeled.length > 0 ? `; not modelled: ${realm.model.unmodeled.join(', ')}` : ''}`,
      );
    } else {
      const merged: JwtRuleInfo = {
        issuer,
        audiences: [
          ...new Set(rules.filter((r) => r.issuer === issuer).flatMap((r) => r.audiences)),
        ],
        spaceDelimited: [
          ...new Set(rules.filter((r) => r.issuer === issuer).flatMap((r) => r.spaceDelimited)),
        ],
      };
      const derived = derivedPrincipals(m, merged, issuers.length > 1);
      principals.push(...derived);
      strongest.push(mergeClaims(derived.map((d) => d.token?.claims ?? {})));
      notes.push(
        `claims derived from the policies for issuer ${issuer}: no realm is known for it, so the columns are the claim values the policies check, not who holds them (give the realm with --realm)`,
      );
    }
  }
  const forged = strongest[0] ?? { iss: issuers[0] ?? OTHER_ISSUER, sub: SUBJECT };
  if (issuers.length > 0) {
    principals.push({
      name: 'forged',
      kind: 'forged',
      token: { claims: forged, valid: false },
      ...(typeof forged.iss === 'string' ? { issuer: forged.iss } : {}),
    });
  }
  principals.push({
    name: 'other issuer',
    kind: 'other-issuer',
    token: { claims: { ...forged, iss: OTHER_ISSUER } },
    issuer: OTHER_ISSUER,
  });
  return { principals, notes };
}
