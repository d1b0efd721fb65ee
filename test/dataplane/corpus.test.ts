import { join } from 'node:path';
import { CLIENT_ADDRESSES, generateCorpus, PATH_FORMS } from '../../policies/dataplane/corpus.js';
import type { Proxy } from '../../policies/dataplane/model.js';
import { seeded } from '../../policies/dataplane/random.js';
import { loadManifests } from '../../policies/engine/manifests.js';
import { workloadsOf } from '../../policies/engine/workloads.js';
import { CORPUS_FAMILIES } from '../support/dataplane.js';

const dist = loadManifests([join(process.cwd(), 'dist')]);

/** The inventory meshward-xds writes for dist/, as far as the corpus reads it. */
export function fakeProxies(): Proxy[] {
  const sidecars = workloadsOf(dist)
    .filter((w) => w.kind === 'Deployment' || w.kind === 'StatefulSet')
    .map((w, i): Proxy => ({
      name: `${w.name}-0`,
      namespace: w.namespace,
      kind: 'sidecar',
      serviceAccount: w.serviceAccount,
      principal: `spiffe://cluster.local/ns/${w.namespace}/sa/${w.serviceAccount}`,
      podIp: `10.244.1.${String(10 + i)}`,
      labels: w.labels,
      nodeId: '',
      dir: '',
      bootstrap: '',
      ports: w.ports.map((port) => ({
        port,
        ...(w.portNames[port] ? { name: w.portNames[port] } : {}),
      })),
    }));
  return [
    {
      name: 'istio-ingressgateway-0',
      namespace: 'istio-system',
      kind: 'gateway',
      serviceAccount: 'istio-ingressgateway-service-account',
      principal: 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
      podIp: '10.244.1.2',
      labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' },
      nodeId: '',
      dir: '',
      bootstrap: '',
      ports: [],
    },
    ...sidecars,
  ];
}

describe('the request corpus', () => {
  const proxies = fakeProxies();

  it('GIVEN one seed THEN one corpus; another seed, another corpus', () => {
    const a = generateCorpus(dist, proxies, { seed: 7, size: 2500 });
    const b = generateCorpus(dist, proxies, { seed: 7, size: 2500 });
    const c = generateCorpus(dist, proxies, { seed: 8, size: 2500 });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(a).toHaveLength(2500);
    expect(a.map((x) => x.id)).toEqual(a.map((_, i) => i));
  });

  it('holds every matrix cell and every family, aimed at proxies of the inventory', () => {
    const corpus = generateCorpus(dist, proxies, { seed: 1, size: 4000 });
    const families = new Set(corpus.map((c) => c.family));
    for (const f of CORPUS_FAMILIES) {
      expect(families).toContain(f);
    }
    expect(corpus.filter((c) => c.family === 'matrix').length).toBeGreaterThan(1700);
    const keys = new Set(proxies.map((p) => `${p.namespace}/${p.name}`));
    expect(corpus.every((c) => keys.has(c.to))).toBe(true);
    expect(corpus.every((c) => (CLIENT_ADDRESSES as readonly string[]).includes(c.from))).toBe(
      true,
    );
    // the gateway is reached over TLS (with and without SNI) and plaintext
    const gateway = corpus.filter((c) => c.to.startsWith('istio-system/'));
    expect(new Set(gateway.map((c) => c.transport.kind))).toEqual(new Set(['tls', 'plaintext']));
    expect(gateway.some((c) => c.transport.kind === 'tls' && c.transport.sni === undefined)).toBe(
      true,
    );
    // broken tokens of every kind, and a token in the query
    const kinds = new Set(corpus.flatMap((c) => c.tokens.map((t) => t.kind)));
    expect(kinds).toEqual(
      new Set(['valid', 'expired', 'not-yet-valid', 'bad-signature', 'alg-none', 'huge']),
    );
    expect(corpus.some((c) => c.tokens.some((t) => t.param === 'access_token'))).toBe(true);
  });

  it('writes each path form as a different request target', () => {
    const r = seeded(1);
    const forms = PATH_FORMS.map((f) => f('/api/orders/o-1', r));
    expect(new Set(forms).size).toBe(forms.length);
    expect(forms).toContain('/api/orders%2Fo-1');
    expect(forms).toContain('/api/orders/x/%2e%2e/o-1');
  });
});
