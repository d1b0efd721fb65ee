import { join } from 'node:path';
import type { Case, Observation } from '../../policies/dataplane/model.js';
import { compare, expectation, routeOf, type World } from '../../policies/dataplane/translate.js';
import { compile } from '../../policies/engine/engine.js';
import { loadManifests } from '../../policies/engine/manifests.js';
import { INSTALLED_MESH } from '../../policies/engine/mesh.js';
import { fakeProxies } from './corpus.test.js';

const manifests = loadManifests([join(process.cwd(), 'dist')]);
const proxies = fakeProxies();
const world: World = {
  manifests,
  compiled: compile(manifests, INSTALLED_MESH),
  mesh: INSTALLED_MESH,
  proxies: new Map(proxies.map((p) => [`${p.namespace}/${p.name}`, p])),
  clients: {
    gw: {
      cert: '',
      key: '',
      uri: 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
      ca: 'mesh',
    },
    evil: { cert: '', key: '', uri: 'spiffe://cluster.local/ns/shop/sa/order-service', ca: 'evil' },
    order: {
      cert: '',
      key: '',
      uri: 'spiffe://cluster.local/ns/shop/sa/order-service',
      ca: 'mesh',
    },
  },
};
const USER = {
  iss: 'https://auth.shop.example.com/realms/shop',
  sub: 'user:alice',
  aud: 'shop-api',
  azp: 'shop-web',
  scope: 'openid',
  realm_access: { roles: ['USER'] },
};
const base: Case = {
  id: 1,
  family: 'test',
  to: 'istio-system/istio-ingressgateway-0',
  port: 8443,
  transport: { kind: 'tls', sni: 'shop.example.com' },
  from: '192.168.1.10',
  method: 'GET',
  path: '/api/orders',
  host: 'shop.example.com',
  headers: [],
  tokens: [{ kind: 'valid', claims: USER }],
};
const seen = (o: Partial<Observation>): Observation => ({
  id: 1,
  status: 200,
  upstream: false,
  body: '',
  ...o,
});

describe('a case as decide sees it', () => {
  it('GIVEN a gateway request THEN two hops: the gateway (client address, SNI) and the sidecar it routes to (the gateway identity)', () => {
    const e = expectation(world, base);
    expect(e.hops.map((h) => h.proxy)).toEqual([
      'istio-system/istio-ingressgateway-0',
      'shop/order-service-0',
    ]);
    expect(e.hops[0]?.request).toMatchObject({
      remoteIp: '192.168.1.10',
      sni: 'shop.example.com',
      source: { mtls: false },
    });
    expect(e.hops[1]?.request).toMatchObject({
      remoteIp: '192.168.1.10',
      destination: { port: 8080 },
      source: {
        mtls: true,
        principal: 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
        ip: '10.244.1.2',
      },
    });
    expect(e.verdict.outcome).toBe('allow');
  });

  it('routes by the VirtualServices on the normalized path, and nowhere for an unknown host', () => {
    expect(routeOf(world, { ...base, path: '/api//orders' })?.proxy.name).toBe('order-service-0');
    expect(routeOf(world, { ...base, host: 'other.example' })).toBeUndefined();
  });

  it('GIVEN a certificate of another CA THEN the handshake fails before decide', () => {
    const c: Case = {
      ...base,
      to: 'shop/payment-service-0',
      port: 8080,
      transport: { kind: 'mtls', client: 'evil' },
    };
    expect(expectation(world, c).verdict).toMatchObject({ outcome: 'reset', status: 0 });
  });

  it('takes a TCP port as TCP: a denial is a closed connection', () => {
    const c: Case = {
      ...base,
      to: 'ratelimit/redis-0',
      port: 6379,
      transport: { kind: 'mtls', client: 'order' },
      tokens: [],
    };
    const e = expectation(world, c);
    expect(e.hops[0]?.request.protocol).toBe('tcp');
    expect(compare(e, seen({ status: 0 }))).toMatchObject({
      agree: true,
      decide: 'reset',
      envoy: 'reset',
    });
  });
});

describe('decide against what Envoy answered', () => {
  const e = expectation(world, base);

  it('compares the sidecar hop when the gateway forwarded, the gateway hop when it answered itself', () => {
    expect(compare(e, seen({ backend: 'order-service-0', upstream: true })).agree).toBe(true);
    expect(compare(e, seen({ status: 403, upstream: false }))).toMatchObject({
      agree: false,
      hop: 0,
      envoy: 'deny',
    });
    expect(compare(e, seen({ status: 403, upstream: true }))).toMatchObject({
      agree: false,
      hop: 1,
    });
    expect(compare(e, seen({ status: 404, upstream: false }))).toMatchObject({
      agree: true,
      hop: 0,
    });
  });

  it('GIVEN a gateway decide refuses WHEN Envoy forwarded it THEN they disagree', () => {
    const refused = expectation(world, { ...base, from: '203.0.113.7' });
    expect(refused.verdict.outcome).toBe('deny');
    expect(compare(refused, seen({ status: 403, upstream: false })).agree).toBe(true);
    expect(compare(refused, seen({ status: 403, upstream: true })).agree).toBe(false);
  });
});
