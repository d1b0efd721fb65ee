/**
 * Lint rule MW017 (red-team M3): an ALLOW rule that admits requests another ALLOW rule of the
 * same workloads guards with token conditions, with fewer of them. ALLOW rules are ORed, so the
 * stricter rule's conditions do not hold where the two overlap: a public `/api/*` makes
 * a `GET /api/admin/x` that needs a role public. The constructs refuse such routes at synth
 * time; this finds them in hand-written YAML.
 */
import { isTokenKey } from '../../contract/claims.js';
import { pathsOverlap } from '../../contract/match.js';
import { isRecord, type K8sObject, objectRef } from './model.js';

export interface ShadowFinding {
  readonly code: 'MW017';
  readonly severity: 'error';
  readonly object: string;
  readonly message: string;
  readonly fix: string;
}

interface Rule {
  readonly policy: K8sObject;
  readonly index: number;
  readonly sources: readonly Record<string, unknown>[] | undefined;
  readonly operations: readonly Record<string, unknown>[] | undefined;
  readonly token: ReadonlySet<string>;
  readonly other: ReadonlySet<string>;
  readonly requestPrincipals: boolean;
}

const strs = (v: unknown): string[] | undefined =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;

function rulesOf(policy: K8sObject): Rule[] {
  const rules = Array.isArray(policy.spec?.rules) ? policy.spec.rules.filter(isRecord) : [];
  return rules.map((rule, index) => {
    const sources = Array.isArray(rule.from)
      ? rule.from.filter(isRecord).map((f) => (isRecord(f.source) ? f.source : {}))
      : undefined;
    const operations = Array.isArray(rule.to)
      ? rule.to.filter(isRecord).map((t) => (isRecord(t.operation) ? t.operation : {}))
      : undefined;
    const when = Array.isArray(rule.when) ? rule.when.filter(isRecord) : [];
    const condition = (w: Record<string, unknown>) =>
      `${String(w.key)}=${JSON.stringify(strs(w.values) ?? [])}!${JSON.stringify(strs(w.notValues) ?? [])}`;
    return {
      policy,
      index,
      sources,
      operations,
      token: new Set(when.filter((w) => isTokenKey(String(w.key))).map(condition)),
      other: new Set(when.filter((w) => !isTokenKey(String(w.key))).map(condition)),
      requestPrincipals: (sources ?? []).some((s) => strs(s.requestPrincipals) !== undefined),
    };
  });
}

/** Two value lists of one field meet: either is absent (any value), or they share a value. */
function meet(a: string[] | undefined, b: string[] | undefined): boolean {
  return a === undefined || b === undefined || a.some((x) => b.includes(x));
}

function operationsOverlap(a: Rule, b: Rule): boolean {
  if (a.operations === undefined || b.operations === undefined) return true;
  return a.operations.some((x) =>
    (b.operations ?? []).some((y) => {
      const px = strs(x.paths);
      const py = strs(y.paths);
      return (
        meet(strs(x.methods), strs(y.methods)) &&
        meet(strs(x.hosts), strs(y.hosts)) &&
        meet(strs(x.ports), strs(y.ports)) &&
        (px === undefined || py === undefined || px.some((p) => py.some((q) => pathsOverlap(p, q))))
      );
    }),
  );
}

/** Whether `a`'s sources admit some caller of `b`'s (by principals and namespaces). */
function sourcesCover(a: Rule, b: Rule): boolean {
  if (a.sources === undefined) return true;
  return a.sources.some((sa) =>
    (b.sources ?? [{}]).some(
      (sb) =>
        meet(strs(sa.principals), strs(sb.principals)) &&
        meet(strs(sa.namespaces), strs(sb.namespaces)) &&
        strs(sa.notPrincipals) === undefined &&
        strs(sa.ipBlocks) === undefined &&
        strs(sa.remoteIpBlocks) === undefined,
    ),
  );
}

const subset = (a: ReadonlySet<string>, b: ReadonlySet<string>) => [...a].every((x) => b.has(x));

/** `a` asks strictly less of the token than `b`, and nothing else `b` does not ask. */
function weakerToken(a: Rule, b: Rule): boolean {
  if (!subset(a.other, b.other) || !subset(a.token, b.token)) return false;
  if (b.requestPrincipals && !a.requestPrincipals) return true;
  return a.requestPrincipals === b.requestPrincipals && a.token.size < b.token.size;
}

function label(r: Rule): string {
  const ops = (r.operations ?? [{}]).map((o) => {
    const m = strs(o.methods);
    const p = strs(o.paths);
    return `${m ? m.join(',') : '*'} ${p ? p.join(' ') : '*'}`;
  });
  return `rule ${r.index} (${ops.join('; ')})`;
}

export function lintShadows(objects: readonly K8sObject[]): ShadowFinding[] {
  const groups = new Map<string, Rule[]>();
  for (const ap of objects.filter((o) => o.kind === 'AuthorizationPolicy')) {
    const action = ap.spec?.action ?? 'ALLOW';
    if (action !== 'ALLOW' || ap.metadata.annotations?.['istio.io/dry-run'] === 'true') continue;
    const key = `${ap.metadata.namespace ?? 'default'}\0${JSON.stringify(ap.spec?.selector ?? null)}\0${JSON.stringify(ap.spec?.targetRefs ?? null)}`;
    groups.set(key, [...(groups.get(key) ?? []), ...rulesOf(ap)]);
  }
  const out: ShadowFinding[] = [];
  for (const rules of groups.values()) {
    for (const strict of rules) {
      if (!strict.requestPrincipals && strict.token.size === 0) continue;
      const weak = rules.find(
        (w) =>
          w !== strict &&
          weakerToken(w, strict) &&
          sourcesCover(w, strict) &&
          operationsOverlap(w, strict),
      );
      if (weak === undefined) continue;
      const where =
        weak.policy === strict.policy ? label(weak) : `${label(weak)} of ${objectRef(weak.policy)}`;
      out.push({
        code: 'MW017',
        severity: 'error',
        object: objectRef(strict.policy),
        message: `${label(strict)} asks for a token (${[...strict.token].join(', ') || 'requestPrincipals'}), but ${where} admits the same requests with less: ALLOW rules are ORed, so on the overlap the stricter rule does not hold`,
        fix: "make the rules' paths or methods disjoint, or give the wider rule the same token conditions",
      });
    }
  }
  return out;
}
