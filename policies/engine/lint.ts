import { REALM_CONTRACT_RULES } from '../../contract/realm-contract.js';
import { ROUTES_ANNOTATION } from '../../contract/routes.js';
import { claimPath, whenKeyError } from './authz.js';
import { type CompiledManifests, compile, decide, matchLabels, selects, subset } from './engine.js';
import { lintEgress } from './lint-egress.js';
import { lintRealms } from './lint-realm.js';
import { lintShadows } from './lint-shadow.js';
import { lintTypes } from './lint-types.js';
import { cidrError, pathTemplateError } from './match.js';
import { INSTALLED_MESH, type MeshSettings } from './mesh.js';
import { isRecord, type K8sObject, type Manifests, objectRef } from './model.js';
import type { RealmFile } from './realms.js';
import { routesOf } from './route-intents.js';
import { ingressGateway, principalOf, type Workload, workloadsOf } from './workloads.js';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  readonly code: string;
  readonly severity: Severity;
  /** `Kind ns/name` */
  readonly object: string;
  readonly message: string;
  readonly fix: string;
}

/**
 * Stable codes: MW001..MW016 = the classic misconfigurations, MW1xx = invalid objects,
 * MW2xx = the realm ↔ policy contract (only where a Keycloak realm is known).
 */
export const LINT_RULES: Readonly<Record<string, string>> = {
  MW001: 'RequestAuthentication without an AuthorizationPolicy requiring a request principal',
  MW002: 'mTLS-only fields on a workload that is not STRICT',
  MW003: 'spiffe:// inside principals',
  MW004: "requestPrincipals '*' (tokens without sub never match)",
  MW005: 'hosts without the :* variant, or hosts on a sidecar',
  MW006: 'HTTP-only fields on a TCP port',
  MW007: 'policy in the wrong namespace',
  MW008: 'selector matches no workload',
  MW009: 'root-namespace allow-nothing blocks the ingress gateway',
  MW010: 'path rule depends on normalization or over/under-matches',
  MW011: 'lower-case or unknown method',
  MW012: 'portLevelMtls misuse or duplicate namespace-level PeerAuthentication',
  MW013: 'ipBlocks on the ingress gateway (use remoteIpBlocks)',
  MW014: 'custom space-delimited claim without spaceDelimitedClaims',
  MW015: 'an issuer JWKS the mesh cannot fetch',
  MW016: 'AuthorizationPolicy used to control egress',
  MW017: 'an ALLOW rule admits with fewer token conditions what another rule guards',
  MW018: "a caller's Sidecar egress leaves out a Service it calls (or its JWKS host)",
  MW101: 'invalid AuthorizationPolicy: empty from/to/source/operation or empty string',
  MW102: 'invalid AuthorizationPolicy: bad when condition',
  MW103: 'invalid AuthorizationPolicy: bad path template',
  MW104:
    'invalid AuthorizationPolicy: DENY/CUSTOM without rules, CUSTOM without provider, unknown action',
  MW105: 'invalid policy: selector and targetRefs together',
  MW106: 'invalid AuthorizationPolicy: bad serviceAccounts',
  MW107: 'invalid AuthorizationPolicy: CUSTOM uses identity fields',
  MW108: 'invalid AuthorizationPolicy: bad IP block',
  MW109: 'invalid PeerAuthentication: unknown mTLS mode',
  MW110: 'invalid security object: a field of the wrong type (a string where a list belongs)',
  ...REALM_CONTRACT_RULES,
};

const METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);
const MTLS_SOURCE_FIELDS = ['principals', 'namespaces', 'serviceAccounts'];
const MTLS_WHEN_KEYS = ['source.principal', 'source.namespace', 'source.serviceAccount'];
const HTTP_OP_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'];
const TCP_APP_PROTOCOLS = /^(tcp|mysql|mongo|redis|kafka)/i;

interface Rule {
  readonly from: Record<string, unknown>[];
  readonly to: Record<string, unknown>[];
  readonly when: Record<string, unknown>[];
  readonly raw: Record<string, unknown>;
}

function rulesOf(obj: K8sObject): Rule[] {
  const rules = Array.isArray(obj.spec?.rules) ? obj.spec.rules.filter(isRecord) : [];
  return rules.map((r) => ({
    from: Array.isArray(r.from)
      ? r.from.filter(isRecord).map((f) => (isRecord(f.source) ? f.source : {}))
      : [],
    to: Array.isArray(r.to)
      ? r.to.filter(isRecord).map((t) => (isRecord(t.operation) ? t.operation : {}))
      : [],
    when: Array.isArray(r.when) ? r.when.filter(isRecord) : [],
    raw: r,
  }));
}

function list(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

function both(rec: Record<string, unknown>, key: string): string[] {
  return [...list(rec[key]), ...list(rec[`not${key.charAt(0).toUpperCase()}${key.slice(1)}`])];
}

function usesHttpOnly(r: Rule): boolean {
  return (
    r.from.some((s) => both(s, 'requestPrincipals').length > 0) ||
    r.to.some((o) => HTTP_OP_FIELDS.some((f) => list(o[f]).length > 0)) ||
    r.when.some((w) => {
      const k = String(w.key);
      return k.startsWith('request.headers[') || k.startsWith('request.auth.');
    })
  );
}

/**
 * Whether the workload's `meshward.io/routes` intent (written by meshward's charts; read
 * as the matrix reads it, from the workload, else its Service) declares routes and all of
 * them public. A malformed annotation proves nothing.
 */
function publicByIntent(m: Manifests, w: Workload): boolean {
  try {
    const routes = routesOf(m, w) ?? [];
    return routes.length > 0 && routes.every((r) => r.public);
  } catch {
    return false;
  }
}

function isGatewaySelector(obj: K8sObject): boolean {
  const sel = matchLabels(obj.spec?.selector);
  return sel !== undefined && (sel.istio === 'ingressgateway' || sel.istio === 'egressgateway');
}

/** Lints manifests for Istio security misconfigurations and invalid policies. */
export function lint(
  manifests: Manifests,
  options: {
    readonly rootNamespace?: string;
    readonly realmFiles?: readonly RealmFile[];
    /** The mesh the manifests run in. @default INSTALLED_MESH (scripts/istio/mesh.yaml) */
    readonly mesh?: MeshSettings;
  } = {},
): Finding[] {
  const root = options.rootNamespace ?? 'istio-system';
  const mesh = options.mesh ?? INSTALLED_MESH;
  const compiled = compile(manifests, { rootNamespace: root, ...mesh });
  const findings: Finding[] = [];
  const add = (code: string, severity: Severity, obj: K8sObject, message: string, fix: string) =>
    findings.push({ code, severity, object: objectRef(obj), message, fix });
  const objs = manifests.objects;
  const workloads = workloadsOf(manifests);
  const services = objs.filter((o) => o.kind === 'Service');
  const aps = objs.filter((o) => o.kind === 'AuthorizationPolicy');
  const ras = objs.filter((o) => o.kind === 'RequestAuthentication');
  const pas = objs.filter((o) => o.kind === 'PeerAuthentication');
  const nsOf = (o: K8sObject) => o.metadata.namespace ?? 'default';
  const selected = (o: K8sObject): Workload[] =>
    workloads.filter((w) => selects(o, w.namespace, w.labels, root, services));
  const gateway = ingressGateway(manifests, root);
  /** The proxies a RequestAuthentication configures: its workloads, and the gateway's pod. */
  const verifiers = (o: K8sObject): Workload[] => [
    ...selected(o),
    ...(gateway.object === undefined &&
    selects(o, gateway.namespace, gateway.labels, root, services)
      ? [gateway]
      : []),
  ];
  const spaceDelimited = new Set(
    ras.flatMap((ra) =>
      (Array.isArray(ra.spec?.jwtRules) ? ra.spec.jwtRules.filter(isRecord) : []).flatMap((r) =>
        list(r.spaceDelimitedClaims),
      ),
    ),
  );

  for (const ap of aps) {
    const spec = ap.spec ?? {};
    const action =
      spec.action === undefined ? 'ALLOW' : JSON.stringify(spec.action).replace(/^"|"$/g, '');
    const rules = rulesOf(ap);
    const hasSelector = spec.selector !== undefined;
    const hasRefs = spec.targetRefs !== undefined || spec.targetRef !== undefined;
    if (hasSelector && hasRefs) {
      add(
        'MW105',
        'error',
        ap,
        'selector and targetRefs are both set',
        'keep only one of selector / targetRefs',
      );
    }
    if (!['ALLOW', 'DENY', 'CUSTOM', 'AUDIT'].includes(action)) {
      add('MW104', 'error', ap, `unknown action '${action}'`, 'use ALLOW, DENY, CUSTOM or AUDIT');
    }
    if ((action === 'DENY' || action === 'CUSTOM') && rules.length === 0) {
      add(
        'MW104',
        'error',
        ap,
        `${action} policy without rules`,
        'add rules (use rules: [{}] to match everything)',
      );
    }
    if (action === 'CUSTOM' && !isRecord(spec.provider)) {
      add(
        'MW104',
        'error',
        ap,
        'CUSTOM policy without provider',
        'set provider.name to an extensionProvider',
      );
    }
    const selLabels = matchLabels(spec.selector);
    const sel = selected(ap);
    const isGw = isGatewaySelector(ap);
    for (const r of rules) {
      if (Array.isArray(r.raw.from) && r.raw.from.length === 0) {
        add('MW101', 'error', ap, 'empty from: []', 'remove from or list at least one source');
      }
      if (Array.isArray(r.raw.to) && r.raw.to.length === 0) {
        add('MW101', 'error', ap, 'empty to: []', 'remove to or list at least one operation');
      }
      for (const s of r.from) {
        if (Object.keys(s).length === 0)
          add('MW101', 'error', ap, 'empty source', 'give the source at least one field');
        for (const [k, v] of Object.entries(s)) {
          if (list(v).some((x) => x === ''))
            add('MW101', 'error', ap, `empty string in source.${k}`, 'remove the empty value');
        }
        for (const p of both(s, 'principals')) {
          if (p.startsWith('spiffe://')) {
            add(
              'MW003',
              'error',
              ap,
              `principal '${p}' starts with spiffe://`,
              `write '${p.slice('spiffe://'.length)}'`,
            );
          }
        }
        const sas = both(s, 'serviceAccounts');
        if (sas.some((x) => x.includes('*'))) {
          add(
            'MW106',
            'error',
            ap,
            `serviceAccounts [${sas.join(', ')}] use a wildcard`,
            'list exact ns/sa values',
          );
        }
        if (
          sas.length > 0 &&
          (both(s, 'principals').length > 0 || both(s, 'namespaces').length > 0)
        ) {
          add(
            'MW106',
            'error',
            ap,
            'serviceAccounts together with principals/namespaces',
            'use one identity field per source',
          );
        }
        for (const rp of list(s.requestPrincipals)) {
          if (rp === '*' || rp === '*/*') {
            add(
              'MW004',
              'warning',
              ap,
              `requestPrincipals '${rp}' never matches tokens without sub`,
              'match the issuer (iss/*) and make sure the issuer always sets sub',
            );
          } else if (rp.endsWith('/*')) {
            add(
              'MW004',
              'info',
              ap,
              `requestPrincipals '${rp}' needs a non-empty sub`,
              'make sure every client of the issuer gets sub (Keycloak: basic scope)',
            );
          }
        }
        for (const b of [...both(s, 'ipBlocks'), ...both(s, 'remoteIpBlocks')]) {
          const err = cidrError(b);
          if (err) add('MW108', 'error', ap, err, 'use an IP address or CIDR');
        }
        if (isGw && both(s, 'ipBlocks').length > 0) {
          add(
            'MW013',
            'warning',
            ap,
            'ipBlocks on the ingress gateway see the load balancer, not the client',
            'use remoteIpBlocks (with numTrustedProxies)',
          );
        }
        if (
          action === 'CUSTOM' &&
          ['principals', 'namespaces', 'requestPrincipals'].some((f) => both(s, f).length > 0)
        ) {
          add(
            'MW107',
            'error',
            ap,
            'CUSTOM policy uses identity fields',
            'match on paths/hosts/ports only',
          );
        }
      }
      for (const o of r.to) {
        if (Object.keys(o).length === 0)
          add('MW101', 'error', ap, 'empty operation', 'give the operation at least one field');
        for (const [k, v] of Object.entries(o)) {
          if (list(v).some((x) => x === ''))
            add('MW101', 'error', ap, `empty string in operation.${k}`, 'remove the empty value');
        }
        for (const p of both(o, 'paths')) {
          if (p.includes('{')) {
            const err = pathTemplateError(p);
            if (err) add('MW103', 'error', ap, err, "use '{*}' for one segment and '{**}' last");
          }
          if (p.includes('//') || /%2f|%5c/i.test(p)) {
            add(
              'MW010',
              'warning',
              ap,
              `path '${p}' depends on normalization the mesh does not do`,
              'match normalized paths; set pathNormalization if needed',
            );
          } else if (p.length > 1 && p.endsWith('*') && !p.endsWith('/*')) {
            add(
              'MW010',
              'info',
              ap,
              `prefix path '${p}' over-matches (e.g. '${p.slice(0, -1)}x')`,
              `use '${p.slice(0, -1)}' and '${p.slice(0, -1)}/*'`,
            );
          } else if (
            p.endsWith('/*') &&
            p.length > 2 &&
            // The bare path listed beside it in the same field covers it.
            !(list(o.paths).includes(p) ? list(o.paths) : list(o.notPaths)).includes(p.slice(0, -2))
          ) {
            add(
              'MW010',
              action === 'DENY' && list(o.paths).includes(p) ? 'warning' : 'info',
              ap,
              `path '${p}' does not match the bare '${p.slice(0, -2)}'`,
              `add '${p.slice(0, -2)}' if it is a route`,
            );
          }
        }
        for (const m of both(o, 'methods')) {
          if (m !== m.toUpperCase()) {
            add(
              'MW011',
              'error',
              ap,
              `method '${m}' is lower-case and never matches`,
              `write '${m.toUpperCase()}'`,
            );
          } else if (!METHODS.has(m) && !m.includes('*')) {
            add(
              'MW011',
              'warning',
              ap,
              `unknown method '${m}'`,
              `use one of ${[...METHODS].join(', ')}`,
            );
          }
        }
        const hosts = list(o.hosts);
        for (const h of hosts) {
          if (!h.includes(':') && !h.endsWith('*') && !hosts.includes(`${h}:*`)) {
            add('MW005', 'warning', ap, `host '${h}' does not match '${h}:<port>'`, `add '${h}:*'`);
          }
          if (
            !/\.svc(\.cluster\.local)?(:|$)/.test(h) &&
            !h.endsWith('.local') &&
            !isGw &&
            h !== '*' &&
            !h.startsWith('*')
          ) {
            add(
              'MW016',
              'warning',
              ap,
              `host '${h}' looks external: AuthorizationPolicy is inbound only and does not control egress`,
              'control egress with an egress gateway policy or REGISTRY_ONLY',
            );
          }
        }
        if (hosts.length > 0 && !isGw && (hasSelector || hasRefs)) {
          add(
            'MW005',
            'info',
            ap,
            'hosts on a sidecar policy match the :authority the caller sent',
            'prefer hosts on gateway policies',
          );
        }
      }
      for (const w of r.when) {
        const key = typeof w.key === 'string' ? w.key : '';
        const err = whenKeyError(key);
        if (err) add('MW102', 'error', ap, err, 'use a documented when key');
        if (list(w.values).length === 0 && list(w.notValues).length === 0) {
          add('MW102', 'error', ap, `when '${key}' has no values or notValues`, 'add values');
        }
        const cp = claimPath(key);
        const last = cp?.[cp.length - 1];
        if (
          last &&
          /scp|scope|perm/i.test(last) &&
          last !== 'scope' &&
          last !== 'permission' &&
          !spaceDelimited.has(last)
        ) {
          add(
            'MW014',
            'warning',
            ap,
            `claim '${last}' looks space-delimited but is not in spaceDelimitedClaims`,
            `add spaceDelimitedClaims: ['${last}'] to the RequestAuthentication`,
          );
        }
        if (
          action === 'CUSTOM' &&
          (key.startsWith('request.auth.') || MTLS_WHEN_KEYS.includes(key))
        ) {
          add(
            'MW107',
            'error',
            ap,
            `CUSTOM policy uses '${key}', which is not known before JWT/identity checks`,
            'match on paths/hosts/ports only',
          );
        }
      }
      // MW006: HTTP-only fields where the workload serves TCP.
      if (usesHttpOnly(r)) {
        const tcpPorts = sel.flatMap((w) => tcpPortsOf(w, services));
        const limitsPorts = r.to.some((o) => list(o.ports).length > 0);
        if (tcpPorts.length > 0 && action === 'DENY' && !limitsPorts) {
          add(
            'MW006',
            'error',
            ap,
            `DENY with HTTP-only fields widens to all TCP on ports [${tcpPorts.join(', ')}]`,
            'add ports to the operation',
          );
        } else if (tcpPorts.length > 0 && action === 'ALLOW') {
          add(
            'MW006',
            'warning',
            ap,
            `ALLOW rule with HTTP-only fields never matches TCP ports [${tcpPorts.join(', ')}]`,
            'write a separate rule for TCP ports without HTTP fields',
          );
        }
      }
      // MW002: mTLS-only fields where plaintext is accepted.
      const mtlsFields =
        r.from.some((s) => MTLS_SOURCE_FIELDS.some((f) => both(s, f).length > 0)) ||
        r.when.some((w) => MTLS_WHEN_KEYS.includes(String(w.key)));
      if (mtlsFields) {
        const weak = sel.filter((w) =>
          (w.ports.length > 0 ? w.ports : [undefined]).some(
            (p) => compiled.plan(w.namespace, w.labels).mtls(p).mode !== 'STRICT',
          ),
        );
        if (weak.length > 0) {
          add(
            'MW002',
            action === 'DENY' ? 'error' : 'warning',
            ap,
            `mTLS-only fields on non-STRICT workloads [${weak.map((w) => w.name).join(', ')}]`,
            'make the workload STRICT (PeerAuthentication)',
          );
        }
      }
    }
    if (nsOf(ap) === root && !hasSelector && !hasRefs && action === 'ALLOW' && rules.length === 0) {
      add(
        'MW009',
        'error',
        ap,
        'root-namespace allow-nothing also blocks the ingress gateway',
        'put default-deny in each app namespace, or allow the gateway explicitly',
      );
    }
    if (isGw && nsOf(ap) !== root) {
      add(
        'MW007',
        'error',
        ap,
        `gateway policy in namespace '${nsOf(ap)}' never reaches the gateway in '${root}'`,
        `move it to '${root}'`,
      );
    } else if (
      nsOf(ap) !== root &&
      workloads.length > 0 &&
      !workloads.some((w) => w.namespace === nsOf(ap))
    ) {
      add(
        'MW007',
        'warning',
        ap,
        `no workload in namespace '${nsOf(ap)}'`,
        'create the policy in the namespace of the workload it protects',
      );
    }
    if (selLabels && !isGw && sel.length === 0 && workloads.length > 0) {
      add(
        'MW008',
        'warning',
        ap,
        `selector ${JSON.stringify(selLabels)} matches no workload`,
        'fix the labels to match the pod template',
      );
    }
  }

  for (const ra of ras) {
    const spec = ra.spec ?? {};
    if (
      spec.selector !== undefined &&
      (spec.targetRefs !== undefined || spec.targetRef !== undefined)
    ) {
      add(
        'MW105',
        'error',
        ra,
        'selector and targetRefs are both set',
        'keep only one of selector / targetRefs',
      );
    }
    const selLabels = matchLabels(spec.selector);
    const sel = selected(ra);
    if (selLabels && !isGatewaySelector(ra) && sel.length === 0 && workloads.length > 0) {
      add(
        'MW008',
        'warning',
        ra,
        `selector ${JSON.stringify(selLabels)} matches no workload`,
        'fix the labels to match the pod template',
      );
    }
    // MW001: tokenless requests pass where no ALLOW policy requires a request principal.
    const open = sel.filter((w) => {
      const allows = aps.filter(
        (ap) =>
          (ap.spec?.action ?? 'ALLOW') === 'ALLOW' &&
          selects(ap, w.namespace, w.labels, root, services),
      );
      if (allows.length === 0) return true;
      const withRules = allows.filter((ap) => rulesOf(ap).length > 0);
      return (
        withRules.length > 0 &&
        !withRules.some((ap) =>
          rulesOf(ap).some(
            (r) =>
              r.from.some((s) => list(s.requestPrincipals).length > 0) ||
              r.when.some((c) => String(c.key).startsWith('request.auth.')),
          ),
        )
      );
    });
    // A workload whose declared intent makes every route public is open on purpose.
    const intended = open.filter((w) => publicByIntent(manifests, w));
    const unexpected = open.filter((w) => !intended.includes(w));
    if (unexpected.length > 0) {
      add(
        'MW001',
        'warning',
        ra,
        `tokenless requests pass on [${unexpected.map((w) => w.name).join(', ')}]`,
        'add an ALLOW policy with requestPrincipals (and default deny)',
      );
    }
    if (intended.length > 0) {
      add(
        'MW001',
        'info',
        ra,
        `tokenless requests pass on [${intended.map((w) => w.name).join(', ')}], public by their ${ROUTES_ANNOTATION} intent`,
        'nothing to do if intended; a selector on the RequestAuthentication would leave them out',
      );
    }
    // MW015: a JWKS the mesh cannot fetch, so every token there gets 401.
    for (const r of Array.isArray(spec.jwtRules) ? spec.jwtRules.filter(isRecord) : []) {
      if (typeof r.jwksUri !== 'string' || r.jwks !== undefined) continue;
      const target = jwksTarget(r.jwksUri, services, workloads);
      if (!target) continue;
      // The host is a Service of the manifests: `hybrid` lets the proxies fetch it too.
      if (mesh.jwksFetch === 'istiod') {
        const { mode, policy } = compiled
          .plan(target.workload.namespace, target.workload.labels)
          .mtls(target.port);
        if (mode === 'STRICT') {
          add(
            'MW015',
            'error',
            ra,
            `jwksUri '${r.jwksUri}' is on STRICT port ${target.port} of ${target.workload.name} (${policy ?? 'mesh'}): istiod cannot fetch it, every token gets 401`,
            'run istiod with PILOT_JWT_ENABLE_REMOTE_JWKS=envoy (each proxy fetches over mTLS), or set that port PERMISSIVE (portLevelMtls)',
          );
        }
        continue;
      }
      const refused = jwksFetchRefusals(compiled, r.jwksUri, target, verifiers(ra));
      if (refused.length > 0) {
        add(
          'MW015',
          'error',
          ra,
          `jwksUri '${r.jwksUri}' is fetched by each verifying proxy from ${target.workload.name} (PILOT_JWT_ENABLE_REMOTE_JWKS=${mesh.jwksFetch}), and refused for [${refused.map((f) => `${f.name}: ${f.outcome}`).join(', ')}]: every token there gets 401`,
          `allow GET ${new URL(r.jwksUri).pathname} on port ${target.port} of ${target.workload.name} from [${refused.map((f) => f.principal).join(', ')}]`,
        );
      }
    }
  }

  const nsLevel = new Map<string, K8sObject[]>();
  for (const pa of pas) {
    const spec = pa.spec ?? {};
    const rawMode = isRecord(spec.mtls) ? spec.mtls.mode : undefined;
    const mode = rawMode === undefined ? undefined : JSON.stringify(rawMode).replace(/^"|"$/g, '');
    if (mode !== undefined && !['UNSET', 'STRICT', 'PERMISSIVE', 'DISABLE'].includes(mode)) {
      add(
        'MW109',
        'error',
        pa,
        `unknown mTLS mode '${mode}'`,
        'use STRICT, PERMISSIVE, DISABLE or UNSET',
      );
    }
    const sel = matchLabels(spec.selector);
    if (isRecord(spec.portLevelMtls)) {
      if (!sel) {
        add(
          'MW012',
          'error',
          pa,
          'portLevelMtls without a selector is ignored',
          'add a selector for the workload',
        );
      } else {
        const ws = workloads.filter((w) => w.namespace === nsOf(pa) && subset(sel, w.labels));
        for (const port of Object.keys(spec.portLevelMtls)) {
          const n = Number(port);
          if (ws.length > 0 && !ws.some((w) => w.ports.includes(n))) {
            add(
              'MW012',
              'warning',
              pa,
              `portLevelMtls port ${port} is not a container port of [${ws.map((w) => w.name).join(', ')}]`,
              'key portLevelMtls by the container (target) port',
            );
          }
        }
      }
    }
    if (sel && nsOf(pa) === root) {
      add(
        'MW007',
        'warning',
        pa,
        'a PeerAuthentication with a selector in the root namespace is ignored',
        'move it to the workload namespace',
      );
    }
    if (!sel) {
      const key = nsOf(pa);
      nsLevel.set(key, [...(nsLevel.get(key) ?? []), pa]);
    }
  }
  for (const [ns, list2] of nsLevel) {
    if (list2.length > 1) {
      for (const pa of list2.slice(1)) {
        add(
          'MW012',
          'error',
          pa,
          `duplicate namespace-level PeerAuthentication in '${ns}' (${list2.map((p) => p.metadata.name).join(', ')}): only the oldest applies`,
          'keep one namespace-level PeerAuthentication',
        );
      }
    }
  }

  findings.push(...lintTypes(objs));
  findings.push(...lintShadows(objs));
  findings.push(...lintEgress(compiled, workloads, root));
  findings.push(...lintRealms(manifests, options.realmFiles));

  const rank: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  const seen = new Set<string>();
  const unique = findings.filter((f) => {
    const key = `${f.code}\0${f.object}\0${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return unique.sort(
    (a, b) =>
      rank[a.severity] - rank[b.severity] ||
      a.code.localeCompare(b.code) ||
      a.object.localeCompare(b.object) ||
      a.message.localeCompare(b.message),
  );
}

function tcpPortsOf(w: Workload, services: readonly K8sObject[]): number[] {
  const out: number[] = [];
  for (const svc of services) {
    const sel = svc.spec?.selector;
    if ((svc.metadata.namespace ?? 'default') !== w.namespace || !isRecord(sel)) continue;
    if (!subset(sel as Record<string, string>, w.labels)) continue;
    const ports = Array.isArray(svc.spec?.ports) ? svc.spec.ports.filter(isRecord) : [];
    for (const p of ports) {
      const proto =
        typeof p.appProtocol === 'string'
          ? p.appProtocol
          : typeof p.name === 'string'
            ? p.name
            : '';
      if (TCP_APP_PROTOCOLS.test(proto)) {
        out.push(typeof p.targetPort === 'number' ? p.targetPort : Number(p.port));
      }
    }
  }
  return out;
}

/**
 * The verifying proxies whose own JWKS fetch the JWKS host's policies refuse: each fetches as
 * its workload identity, over mTLS, from its pod (decide, NetworkPolicies included).
 */
function jwksFetchRefusals(
  compiled: CompiledManifests,
  uri: string,
  target: { workload: Workload; port: number },
  fetchers: readonly Workload[],
): { name: string; principal: string; outcome: string }[] {
  const url = new URL(uri);
  return fetchers.flatMap((w) => {
    const d = decide(compiled, {
      destination: {
        namespace: target.workload.namespace,
        labels: target.workload.labels,
        port: target.port,
      },
      source: {
        mtls: true,
        principal: principalOf(w),
        pod: { namespace: w.namespace, labels: w.labels },
      },
      protocol: 'http',
      method: 'GET',
      path: url.pathname,
      host: url.host,
    });
    return d.outcome === 'allow'
      ? []
      : [{ name: w.name, principal: principalOf(w), outcome: `${d.outcome} (${d.reason})` }];
  });
}

function jwksTarget(
  uri: string,
  services: readonly K8sObject[],
  workloads: readonly Workload[],
): { workload: Workload; port: number } | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  const m = /^([^.]+)\.([^.]+)\.svc(\.cluster\.local)?$/.exec(url.hostname);
  if (!m) return undefined;
  const svc = services.find(
    (s) => s.metadata.name === m[1] && (s.metadata.namespace ?? 'default') === m[2],
  );
  const sel = svc?.spec?.selector;
  if (!svc || !isRecord(sel)) return undefined;
  const svcPort = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const ports = Array.isArray(svc.spec?.ports) ? svc.spec.ports.filter(isRecord) : [];
  const sp = ports.find((p) => Number(p.port) === svcPort);
  if (!sp) return undefined;
  const workload = workloads.find(
    (w) => w.namespace === m[2] && subset(sel as Record<string, string>, w.labels),
  );
  if (!workload) return undefined;
  let port = svcPort;
  if (typeof sp.targetPort === 'number') port = sp.targetPort;
  else if (typeof sp.targetPort === 'string') {
    const named = findNamedPort(workload, sp.targetPort);
    if (named !== undefined) port = named;
  }
  return { workload, port };
}

function findNamedPort(w: Workload, name: string): number | undefined {
  const spec = w.object?.spec;
  const tpl = spec && isRecord(spec.template) ? spec.template : undefined;
  const ps = tpl && isRecord(tpl.spec) ? tpl.spec : undefined;
  const containers = ps && Array.isArray(ps.containers) ? ps.containers.filter(isRecord) : [];
  for (const c of containers) {
    for (const p of Array.isArray(c.ports) ? c.ports.filter(isRecord) : []) {
      if (p.name === name) return Number(p.containerPort);
    }
  }
  return undefined;
}

/** Renders findings as a readable table. */
export function formatFindings(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'no findings\n';
  const lines = findings.map(
    (f) =>
      `${f.severity.padEnd(7)} ${f.code}  ${f.object}\n        ${f.message}\n        fix: ${f.fix}`,
  );
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  return `${lines.join('\n')}\n\n${errors} error(s), ${warnings} warning(s), ${findings.length - errors - warnings} info\n`;
}
