import { lint, parseManifests } from '../../policies/engine/index.js';
import { ap, decideYaml } from './helpers.js';

const service = (namespace: string, name: string, port = 8080, portName = 'http') =>
  `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  selector: { app: ${name} }
  ports: [{ name: ${portName}, port: ${port}, targetPort: ${port} }]
---
`;

const sidecar = (namespace: string, name: string, body: string) =>
  `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: ${name}, namespace: ${namespace} }
spec:
${body}
---
`;

const STRICT = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
---
`;

const WEB_POD = { namespace: 'shop', labels: { app: 'web' } };
const FROM_WEB = { mtls: true, principal: 'cluster.local/ns/shop/sa/web', pod: WEB_POD };

/** web's own Sidecar (selecting app=web) with one egress listener for `hosts`. */
/** (`unset`: no outboundTrafficPolicy, the mesh's applies.) */
const webSidecar = (hosts: string, mode: 'REGISTRY_ONLY' | 'unset' = 'REGISTRY_ONLY') =>
  sidecar(
    'shop',
    'web',
    `  workloadSelector: { labels: { app: web } }
  egress: [{ hosts: [${hosts}] }]${mode === 'unset' ? '' : `\n  outboundTrafficPolicy: { mode: ${mode} }`}`,
  );

const WEB_SEES_OTHER = webSidecar('istio-system/*, shop/other.shop.svc.cluster.local');

const BASE = service('shop', 'api') + service('shop', 'other') + STRICT;

describe("Sidecar egress: the caller's own proxy", () => {
  it('GIVEN a Sidecar listing the host WHEN its pod calls the Service THEN the destination decides', () => {
    const yaml = BASE + webSidecar('./api.shop.svc.cluster.local');
    const d = decideYaml(yaml, { source: FROM_WEB, host: 'api.shop.svc.cluster.local' });
    expect(d).toMatchObject({ outcome: 'allow', reason: 'no ALLOW policy applies' });
  });

  it('GIVEN REGISTRY_ONLY and a host outside the egress WHEN another visible HTTP Service listens on the port THEN block_all answers 502, naming the Sidecar', () => {
    const d = decideYaml(BASE + WEB_SEES_OTHER, { source: FROM_WEB, host: 'api.shop' });
    expect(d).toMatchObject({ outcome: 'blocked', status: 502, policies: ['shop/web'] });
    expect(d.reason).toContain('shop/api is not in its egress');
  });

  it('GIVEN REGISTRY_ONLY and no visible Service on the port THEN the connection is closed (status 0)', () => {
    const yaml = BASE + webSidecar('istio-system/*');
    expect(decideYaml(yaml, { source: FROM_WEB })).toMatchObject({ outcome: 'blocked', status: 0 });
  });

  it('GIVEN a visible TCP-named Service on the port THEN there is no HTTP listener: closed, not 502', () => {
    const yaml =
      service('shop', 'api', 6379, 'tcp-redis') +
      service('shop', 'other', 6379, 'tcp-redis') +
      WEB_SEES_OTHER;
    const d = decideYaml(yaml, {
      source: FROM_WEB,
      destination: { namespace: 'shop', labels: { app: 'api' }, port: 6379 },
    });
    expect(d).toMatchObject({ outcome: 'blocked', status: 0 });
  });

  it('GIVEN ALLOW_ANY (the mesh default) and a host outside the egress THEN it passes through without mTLS, which STRICT refuses', () => {
    const yaml = BASE + webSidecar('istio-system/*', 'unset');
    const d = decideYaml(yaml, { source: FROM_WEB });
    expect(d).toMatchObject({ outcome: 'reset', policies: ['shop/web', 'shop/default'] });
    expect(d.reason).toContain('ALLOW_ANY passes it through without mTLS');
    // The mesh's own REGISTRY_ONLY applies where the Sidecar says nothing.
    expect(
      decideYaml(yaml, { source: FROM_WEB }, { outboundTrafficPolicy: 'REGISTRY_ONLY' }).outcome,
    ).toBe('blocked');
  });

  it('GIVEN a passthrough to a PERMISSIVE destination THEN the policies see no peer identity', () => {
    const yaml =
      service('shop', 'api') +
      ap(`  rules: [{ from: [{ source: { principals: [cluster.local/ns/shop/sa/web] } }] }]`) +
      sidecar('shop', 'web', `  egress: [{ hosts: [istio-system/*] }]`);
    expect(decideYaml(yaml, { source: FROM_WEB })).toMatchObject({
      outcome: 'deny',
      status: 403,
    });
  });

  it('picks the workload Sidecar over the namespace one over the root one, and ignores the others', () => {
    const open = (ns: string, name: string, hosts: string, selector = '') =>
      sidecar(
        ns,
        name,
        `${selector}  egress: [{ hosts: [${hosts}] }]
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }`,
      );
    const rootOnly = BASE + open('istio-system', 'mesh', 'istio-system/*');
    expect(decideYaml(rootOnly, { source: FROM_WEB }).outcome).toBe('blocked');
    const nsWide = rootOnly + open('shop', 'ns', './*');
    expect(decideYaml(nsWide, { source: FROM_WEB }).outcome).toBe('allow');
    const own =
      nsWide + open('shop', 'own', '~/*', '  workloadSelector: { labels: { app: web } }\n');
    expect(decideYaml(own, { source: FROM_WEB })).toMatchObject({
      outcome: 'blocked',
      policies: ['shop/own'],
    });
    // A Sidecar selecting other pods does not apply.
    const other =
      nsWide + open('shop', 'else', '~/*', '  workloadSelector: { labels: { app: else } }\n');
    expect(decideYaml(other, { source: FROM_WEB }).outcome).toBe('allow');
  });

  it('matches hosts as Istio does: any namespace, wildcard suffixes, a port-specific listener', () => {
    const with_ = (hosts: string, extra = '') =>
      BASE +
      sidecar(
        'shop',
        'web',
        `  workloadSelector: { labels: { app: web } }
  egress:${extra}
    - hosts: [${hosts}]
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }`,
      );
    expect(decideYaml(with_("'*/api.shop.svc.cluster.local'"), { source: FROM_WEB }).outcome).toBe(
      'allow',
    );
    expect(decideYaml(with_('shop/*.shop.svc.cluster.local'), { source: FROM_WEB }).outcome).toBe(
      'allow',
    );
    expect(decideYaml(with_('auth/*'), { source: FROM_WEB }).outcome).toBe('blocked');
    const byPort = `
    - port: { number: 8080, protocol: HTTP, name: http }
      hosts: [istio-system/*]`;
    expect(decideYaml(with_('shop/*', byPort), { source: FROM_WEB }).outcome).toBe('blocked');
  });

  it('leaves alone a caller without a sidecar, a gateway, and a request naming no source pod', () => {
    const yaml =
      BASE +
      sidecar(
        'shop',
        'all',
        `  egress: [{ hosts: [istio-system/*] }]\n  outboundTrafficPolicy: { mode: REGISTRY_ONLY }`,
      );
    expect(decideYaml(yaml, { source: { mtls: false, pod: WEB_POD } }).outcome).toBe('reset');
    expect(
      decideYaml(yaml, {
        source: {
          mtls: true,
          principal: 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
          pod: { namespace: 'istio-system', labels: { istio: 'ingressgateway' } },
        },
      }).outcome,
    ).toBe('allow');
    expect(
      decideYaml(yaml, { source: { mtls: true, principal: FROM_WEB.principal } }).outcome,
    ).toBe('allow');
  });
});

describe('MW018: a Sidecar that leaves out what its workload calls', () => {
  const workload = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: shop }
spec:
  template:
    metadata: { labels: { app: ${name} } }
    spec: { serviceAccountName: ${name}, containers: [{ name: app, image: x, ports: [{ containerPort: 8080 }] }] }
---
`;
  const allowWeb = ap(
    `  rules: [{ from: [{ source: { principals: [cluster.local/ns/shop/sa/web] } }] }]`,
    'api',
  );
  const base = workload('api') + workload('web') + BASE + allowWeb;
  const codes = (yaml: string) =>
    lint({ objects: parseManifests(yaml, 't.yaml') })
      .filter((f) => f.code === 'MW018')
      .map((f) => `${f.object}: ${f.fix}`);

  it('GIVEN api allows web WHEN web’s Sidecar does not list api THEN an error names the caller, the callee and the host to add', () => {
    expect(codes(base + WEB_SEES_OTHER)).toEqual([
      "Deployment shop/web: add 'shop/api.shop.svc.cluster.local' to the egress hosts of Sidecar shop/web",
    ]);
  });

  it('GIVEN the Sidecar lists it, or there is no Sidecar THEN nothing', () => {
    const listed = webSidecar('shop/api.shop.svc.cluster.local');
    expect(codes(base + listed)).toEqual([]);
    expect(codes(base)).toEqual([]);
  });
});
