import { Testing } from 'cdk8s';

import { MeshSystem, type SystemIntent } from '../../charts/lib/index.js';

const issuer = {
  issuer: 'https://auth.example.com/realms/x',
  jwksUri: 'http://kc.auth.svc.cluster.local:8080/certs',
  audiences: ['api'],
};
const intent: SystemIntent = {
  namespace: 'shop',
  issuer,
  services: [
    {
      name: 'front',
      image: 'front:1',
      exposed: true,
      routes: [{ paths: ['/api/*'], public: true }],
    },
    {
      name: 'back',
      image: 'back:1',
      routes: [
        { methods: ['GET'], paths: ['/data'], callers: ['front', 'nightly'], authenticated: true },
      ],
    },
  ],
  jobs: [{ name: 'nightly', image: 'nightly:1', schedule: '0 3 * * *' }],
};

type Rendered = { kind: string; metadata: { name: string }; spec: Record<string, unknown> };
const sidecars = (i: SystemIntent) =>
  new Map(
    (Testing.synth(new MeshSystem(Testing.app(), 'sys', { intent: i })) as Rendered[])
      .filter((o) => o.kind === 'Sidecar')
      .map((o) => [o.metadata.name, o.spec]),
  );

describe('egress least privilege: a Sidecar per workload from the call graph', () => {
  test('GIVEN back lets front and nightly call it THEN their Sidecars list back (and the issuer’s JWKS host for the proxies that verify tokens), REGISTRY_ONLY; back calls nothing', () => {
    const s = sidecars(intent);
    expect([...s.keys()].sort()).toEqual(['back', 'front', 'nightly']);
    expect(s.get('front')).toEqual({
      workloadSelector: { labels: { app: 'front' } },
      egress: [
        {
          hosts: [
            '*/kc.auth.svc.cluster.local',
            'istio-system/*',
            'shop/back.shop.svc.cluster.local',
          ],
        },
      ],
      outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
    });
    // The issuer's host is not a Service of this app: any namespace's ServiceEntry may register it.
    expect(s.get('nightly')?.egress).toEqual([
      {
        hosts: [
          '*/kc.auth.svc.cluster.local',
          'istio-system/*',
          'shop/back.shop.svc.cluster.local',
        ],
      },
    ]);
    expect(s.get('back')?.egress).toEqual([
      { hosts: ['*/kc.auth.svc.cluster.local', 'istio-system/*'] },
    ]);
  });

  test('GIVEN egress options THEN extra hosts are added, ALLOW_ANY is kept, scoped: false renders no Sidecar', () => {
    const s = sidecars({
      ...intent,
      services: [
        { ...intent.services[0], egress: { scoped: false } },
        {
          ...intent.services[1],
          egress: { hosts: ['payments/api.psp.example'], outboundTrafficPolicy: 'ALLOW_ANY' },
        },
      ],
    });
    expect(s.has('front')).toBe(false);
    expect(s.get('back')).toMatchObject({
      egress: [
        {
          hosts: ['*/kc.auth.svc.cluster.local', 'istio-system/*', 'payments/api.psp.example'],
        },
      ],
      outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
    });
  });

  test.each([
    [
      { hosts: ['api.psp.example'] },
      "'egress.hosts' entry 'api.psp.example' must be 'namespace/host'",
    ],
    [{ hosts: ['a/b/c'] }, "'egress.hosts' entry 'a/b/c' must be 'namespace/host'"],
    [{ hosts: ['Shop/x'] }, "'egress.hosts' entry 'Shop/x' must be 'namespace/host'"],
    [{ hosts: ['*/*'] }, "'egress.hosts' entry '*/*' opens the proxy to every host"],
    [{ scoped: false, hosts: ['a/b'] }, "'egress.hosts' given with 'egress.scoped: false'"],
    [
      { outboundTrafficPolicy: 'allow_any' as never },
      '\'egress.outboundTrafficPolicy\' ("allow_any") must be',
    ],
  ])('GIVEN egress %j THEN the synth refuses it, naming the service', (egress, message) => {
    expect(() =>
      sidecars({ ...intent, services: [{ ...intent.services[0], egress }, intent.services[1]] }),
    ).toThrow(`MeshService 'front': ${message}`);
  });
});
