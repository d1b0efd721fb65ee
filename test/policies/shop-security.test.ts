/**
 * The shop's security objects as synthesized into dist/: pinned by snapshots (a reviewer
 * sees every change) and held to invariants that must never break.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { buildApp } from '../../charts/app.js';
import { parseRoutes, ROUTES_ANNOTATION } from '../../contract/routes.js';
import { compile, decide, loadManifests } from '../../policies/engine/index.js';
import { SHOP_AUDIENCE, SHOP_ISSUER } from '../../policies/realm.js';
import { DIST, loadDist, ref, synthInMemory, type KubeObject } from '../support/manifests.js';

const objects = loadDist();
const security = objects.filter((o) => o.apiVersion.startsWith('security.istio.io/'));
const meshNamespaces = objects
  .filter((o) => o.kind === 'Namespace' && o.metadata.labels?.['istio-injection'] === 'enabled')
  .map((o) => o.metadata.name);

interface PodTemplate {
  namespace: string;
  owner: string;
  spec: any;
}
function podTemplates(): PodTemplate[] {
  return objects.flatMap((o): PodTemplate[] => {
    const ns = o.metadata.namespace ?? '';
    const spec = o.spec as any;
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind)) {
      return [{ namespace: ns, owner: ref(o), spec: spec.template.spec }];
    }
    if (o.kind === 'CronJob')
      return [{ namespace: ns, owner: ref(o), spec: spec.jobTemplate.spec.template.spec }];
    return [];
  });
}

describe('dist/ is the synthesis of the current code', () => {
  test('every chart file equals a fresh in-memory synth, and nothing else is in dist/', () => {
    const fresh = synthInMemory(buildApp());
    const onDisk = readdirSync(DIST)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    expect(onDisk).toEqual([...fresh.keys()].sort());
    for (const [file, yaml] of fresh) {
      // A failure here means dist/ is stale: run `npm run synth` and commit dist/.
      expect({ file, yaml: readFileSync(join(DIST, file), 'utf8') }).toEqual({ file, yaml });
    }
  });

  test('synthesis is deterministic', () => {
    expect(synthInMemory(buildApp())).toEqual(synthInMemory(buildApp()));
  });
});

describe('policy snapshots', () => {
  test.each(security.map((o) => [ref(o), o] as const))('%s', (_name, obj) => {
    expect(obj).toMatchSnapshot();
  });
});

describe('invariants', () => {
  test('the shop has mesh namespaces', () => {
    expect(meshNamespaces).toContain('shop');
  });

  test.each(meshNamespaces)('namespace %s: STRICT mTLS and default deny, namespace-wide', (ns) => {
    const peer = security.filter(
      (o) => o.kind === 'PeerAuthentication' && o.metadata.namespace === ns && !o.spec?.selector,
    );
    expect(peer).toHaveLength(1);
    expect(peer[0].spec).toMatchObject({ mtls: { mode: 'STRICT' } });
    const deny = security.filter(
      (o) =>
        o.kind === 'AuthorizationPolicy' &&
        o.metadata.namespace === ns &&
        JSON.stringify(o.spec) === '{}',
    );
    expect(deny.map(ref)).toHaveLength(1);
  });

  test('no workload-level PeerAuthentication weakens mTLS without a stated reason', () => {
    const weakened = security.filter((o) => {
      if (o.kind !== 'PeerAuthentication' || !o.spec?.selector) return false;
      const modes = [
        (o.spec as any).mtls?.mode,
        ...Object.values((o.spec as any).portLevelMtls ?? {}).map((p: any) => p.mode),
      ];
      return (
        modes.some((m) => m && m !== 'STRICT') && !o.metadata.annotations?.['meshward.io/reason']
      );
    });
    expect(weakened.map(ref)).toEqual([]);
  });

  // A CORS preflight carries no token, so its rule cannot name a source. It is safe only when
  // it admits nothing but OPTIONS and only from exact, listed origins.
  function isCorsPreflight(rule: any): boolean {
    const methods: string[] = (rule.to ?? []).flatMap((t: any) => t.operation?.methods ?? []);
    const origin = (rule.when ?? []).find((w: any) => w.key === 'request.headers[origin]');
    return (
      methods.length > 0 &&
      methods.every((m) => m === 'OPTIONS') &&
      (rule.to ?? []).every((t: any) => (t.operation?.methods ?? []).length > 0) &&
      origin !== undefined &&
      origin.values.length > 0 &&
      origin.values.every((v: string) => !v.includes('*'))
    );
  }

  test('every ALLOW rule names a source, serves only declared public routes, or is a CORS preflight', () => {
    const publicPaths = new Set(
      objects.flatMap((o) => {
        const routes = o.metadata.annotations?.[ROUTES_ANNOTATION];
        if (!routes) return [];
        return parseRoutes(routes, ref(o))
          .filter((r) => r.public)
          .flatMap((r) => r.paths);
      }),
    );
    const offenders: string[] = [];
    for (const policy of security.filter((o) => o.kind === 'AuthorizationPolicy')) {
      const spec = policy.spec as any;
      if ((spec.action ?? 'ALLOW') !== 'ALLOW') continue;
      (spec.rules ?? []).forEach((rule: any, i: number) => {
        const hasSource = (rule.from ?? []).some(
          (f: any) => Object.keys(f.source ?? {}).length > 0,
        );
        const paths: string[] = (rule.to ?? []).flatMap((t: any) => t.operation?.paths ?? []);
        const onlyPublic = paths.length > 0 && paths.every((p) => publicPaths.has(p));
        if (!hasSource && !onlyPublic && !isCorsPreflight(rule)) {
          offenders.push(`${ref(policy)} rule ${i}`);
        }
      });
    }
    expect(offenders).toEqual([]);
  });

  test('every RequestAuthentication reads tokens from the Authorization header only, never from the query', () => {
    const rules = security
      .filter((o) => o.kind === 'RequestAuthentication')
      .flatMap((o) => ((o.spec as any).jwtRules ?? []).map((r: any) => ({ ra: ref(o), rule: r })));
    expect(rules.length).toBeGreaterThan(0);
    expect(
      rules.map(({ ra, rule }) => ({
        ra,
        fromHeaders: rule.fromHeaders,
        fromParams: rule.fromParams,
        fromCookies: rule.fromCookies,
      })),
    ).toEqual(
      rules.map(({ ra }) => ({
        ra,
        fromHeaders: [{ name: 'Authorization', prefix: 'Bearer ' }],
        fromParams: undefined,
        fromCookies: undefined,
      })),
    );
  });

  test('GIVEN a valid USER token in ?access_token= WHEN decided at the gateway THEN it counts as no token (403), while the same token in the header is allowed', () => {
    const compiled = compile(loadManifests([DIST]));
    const token = {
      claims: {
        iss: SHOP_ISSUER,
        sub: 'u-1',
        aud: SHOP_AUDIENCE,
        realm_access: { roles: ['USER'] },
      },
    };
    const request = (location?: { param: string }) =>
      decide(compiled, {
        destination: { namespace: 'istio-system', labels: { istio: 'ingressgateway' }, port: 8443 },
        remoteIp: '192.168.1.10',
        sni: 'shop.example.com',
        method: 'GET',
        path: '/api/orders',
        host: 'shop.example.com',
        tokens: [{ ...token, ...(location ? { location } : {}) }],
      });

    expect(
      `${request({ param: 'access_token' }).outcome} ${request({ param: 'access_token' }).status}`,
    ).toBe('deny 403');
    expect(request().outcome).toBe('allow');
  });

  test('every mesh namespace denies ingress by NetworkPolicy unless a pod has its own (red-team L9)', () => {
    const denies = objects
      .filter(
        (o) =>
          o.kind === 'NetworkPolicy' &&
          Object.keys((o.spec as any).podSelector ?? {}).length === 0 &&
          (o.spec as any).ingress === undefined &&
          ((o.spec as any).policyTypes ?? []).includes('Ingress'),
      )
      .map((o) => o.metadata.namespace);
    expect(meshNamespaces.length).toBeGreaterThanOrEqual(3);
    expect([...denies].sort()).toEqual([...meshNamespaces].sort());
  });

  test('no NetworkPolicy admits every pod of a namespace: each peer names its pods', () => {
    const wide = objects
      .filter((o) => o.kind === 'NetworkPolicy')
      .flatMap((o) =>
        ((o.spec as any).ingress ?? []).flatMap((rule: any) =>
          (rule.from ?? [])
            .filter((peer: any) => Object.keys(peer.podSelector?.matchLabels ?? {}).length === 0)
            .map((peer: any) => `${ref(o)} ${JSON.stringify(peer)}`),
        ),
      );
    expect(wide).toEqual([]);
  });

  test('every workload runs as its own ServiceAccount, declared in its namespace', () => {
    const accounts = new Set(
      objects
        .filter((o) => o.kind === 'ServiceAccount')
        .map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
    );
    const seen = new Map<string, string>();
    for (const { namespace, owner, spec } of podTemplates()) {
      const sa = `${namespace}/${spec.serviceAccountName ?? 'default'}`;
      expect({ owner, sa, declared: accounts.has(sa), shared: seen.get(sa) }).toEqual({
        owner,
        sa,
        declared: true,
        shared: undefined,
      });
      expect(spec.serviceAccountName).not.toBe('default');
      seen.set(sa, owner);
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
  });

  test('no container runs as root or with a writable root filesystem', () => {
    const offenders: string[] = [];
    for (const { owner, spec } of podTemplates()) {
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const ctx = { ...spec.securityContext, ...c.securityContext };
        if (ctx.runAsNonRoot !== true || ctx.runAsUser === 0)
          offenders.push(`${owner} ${c.name}: may run as root`);
        if (c.securityContext?.readOnlyRootFilesystem !== true)
          offenders.push(`${owner} ${c.name}: writable root fs`);
        if (c.securityContext?.allowPrivilegeEscalation !== false)
          offenders.push(`${owner} ${c.name}: privilege escalation`);
        if (!c.securityContext?.capabilities?.drop?.includes('ALL'))
          offenders.push(`${owner} ${c.name}: capabilities not dropped`);
      }
    }
    expect(offenders).toEqual([]);
  });

  test('no image is pulled on every start (images loaded into kind must be used as they are)', () => {
    const always = podTemplates().flatMap(({ owner, spec }) =>
      spec.containers
        .filter((c: any) => c.imagePullPolicy !== 'IfNotPresent')
        .map((c: any) => `${owner} ${c.name}`),
    );
    expect(always).toEqual([]);
  });

  test('every Service port is named for its protocol', () => {
    const unnamed = objects
      .filter((o): o is KubeObject => o.kind === 'Service')
      .flatMap((s) =>
        ((s.spec as any).ports as any[])
          .filter(
            (p) =>
              !p.appProtocol && !/^(http|http2|grpc|tcp|tls|https|redis)(-|$)/.test(p.name ?? ''),
          )
          .map(() => ref(s)),
      );
    expect(unnamed).toEqual([]);
  });
});
