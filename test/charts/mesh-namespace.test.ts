import { Testing } from 'cdk8s';

import { MeshNamespace } from '../../charts/lib/index.js';

function synth(props: ConstructorParameters<typeof MeshNamespace>[2]) {
  const chart = Testing.chart();
  new MeshNamespace(chart, 'ns', props);
  return Testing.synth(chart);
}

describe('MeshNamespace', () => {
  test('is secure by default: injection, restricted, STRICT mTLS, default deny', () => {
    // GIVEN / WHEN
    const [ns, peer, deny] = synth({ name: 'shop' });
    // THEN
    expect(ns.kind).toBe('Namespace');
    expect(ns.metadata.labels).toMatchObject({
      'istio-injection': 'enabled',
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
    expect(peer).toMatchObject({
      kind: 'PeerAuthentication',
      metadata: { name: 'default', namespace: 'shop' },
    });
    expect(peer.spec).toEqual({ mtls: { mode: 'STRICT' } });
    expect(deny).toMatchObject({
      kind: 'AuthorizationPolicy',
      metadata: { name: 'default-deny', namespace: 'shop' },
    });
    expect(deny.spec).toEqual({});
  });

  test('denies ingress by NetworkPolicy to every pod that has no policy of its own', () => {
    const np = synth({ name: 'shop' }).find((o: any) => o.kind === 'NetworkPolicy');
    expect(np).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'default-deny-ingress', namespace: 'shop' },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    });
  });

  test('every default can be turned off explicitly', () => {
    const objects = synth({
      name: 'legacy',
      strictMtls: false,
      defaultDeny: false,
      networkDefaultDeny: false,
      sidecarInjection: false,
      podSecurity: 'baseline',
    });
    expect(objects).toHaveLength(1);
    expect(objects[0].metadata.labels).toMatchObject({
      'istio-injection': 'disabled',
      'pod-security.kubernetes.io/enforce': 'baseline',
    });
  });

  test('throws when the name is not a DNS-1123 label', () => {
    expect(() => synth({ name: 'Shop' })).toThrow(
      "MeshNamespace 'ns': 'name' ('Shop') must be a DNS-1123 label",
    );
  });
});
