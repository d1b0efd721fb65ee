import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatMatrix,
  lint,
  loadManifests,
  matrix,
  mismatches,
} from '../../policies/engine/index.js';
import { ISTIO_DEFAULT_MESH } from '../../policies/engine/mesh.js';

// The synthesized shop (`npm run synth` → dist/). This suite needs dist/ to exist.
const DIST = join(process.cwd(), 'dist');

describe('the synthesized shop (dist/)', () => {
  it('exists', () => {
    expect(existsSync(DIST)).toBe(true);
  });

  const manifests = () => loadManifests([DIST]);

  it('lints without error-level findings', () => {
    expect(lint(manifests()).filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('lints with no error and no warning in the mesh the project installs', () => {
    // Red-team M4: the proxies fetch the JWKS over mTLS, so Keycloak's port is STRICT and the
    // old MW002 warning (caller principals on a PERMISSIVE port) is gone.
    expect(
      lint(manifests())
        .filter((f) => f.severity !== 'info')
        .map((f) => `${f.code} ${f.object}`),
    ).toEqual([]);
  });

  it("in Istio's default mesh (istiod fetches the JWKS in plaintext) reports that every token would get 401", () => {
    expect(
      lint(manifests(), { mesh: ISTIO_DEFAULT_MESH })
        .filter((f) => f.severity === 'error')
        .map((f) => `${f.code} ${f.object}`),
    ).toEqual([
      'MW015 RequestAuthentication istio-system/meshward-gateway-jwt',
      'MW015 RequestAuthentication shop/jwt',
    ]);
  });

  it('has no cell where the mesh differs from the meshward.io/routes intent', () => {
    // The gateway's IP allowlist admits the office network and port-forward, so the internet
    // client is modeled from the office; see the next test.
    expect(mismatches(matrix(manifests(), { clientIp: '192.168.1.10' }))).toEqual([]);
  });

  it('denies every gateway request from a public address when the gateway has an IP allowlist', () => {
    const m = matrix(manifests());
    const gateway = m.cells.filter((c) => c.caller === 'internet (gateway)');
    expect(gateway.length).toBeGreaterThan(0);
    expect(gateway.every((c) => c.outcome !== 'allow')).toBe(true);
  });

  it('matches the committed access matrix', () => {
    expect(formatMatrix(matrix(manifests(), { clientIp: '192.168.1.10' }))).toMatchSnapshot();
  });
});

describe('the NetworkPolicies of the synthesized shop in its matrix', () => {
  const m = matrix(loadManifests([DIST]), { clientIp: '192.168.1.10' });
  const cell = (service: string, method: string, path: string, caller: string) =>
    m.cells.find(
      (c) =>
        c.service === service &&
        c.method === method &&
        c.path === path &&
        c.caller === caller &&
        c.principal === 'no token',
    );

  it('places every caller in a pod: its workload, the gateway, or an unlabelled pod in default', () => {
    const pods = new Map(m.callers.map((c) => [c.name, c.pod]));
    expect(pods.get('shop/order-service')).toEqual({
      namespace: 'shop',
      labels: { app: 'order-service', version: 'v1' },
    });
    expect(pods.get('internet (gateway)')?.namespace).toBe('istio-system');
    expect(pods.get('internet (gateway)')?.labels.istio).toBe('ingressgateway');
    expect(pods.get('plaintext')).toEqual({ namespace: 'default', labels: {} });
  });

  it('GIVEN payment-service admits only its callers’ pods WHEN a pod outside the mesh calls it THEN the cell is unreachable, naming the policies, as intended', () => {
    const c = cell('shop/payment-service', 'POST', '/api/payments', 'plaintext');
    expect(c).toMatchObject({ outcome: 'unreachable', status: 0, intended: 'deny' });
    expect(c?.policies).toEqual(['shop/default-deny-ingress', 'shop/payment-service']);
    expect(
      cell('shop/payment-service', 'POST', '/api/payments', 'shop/order-service'),
    ).toMatchObject({ outcome: 'deny', status: 403 }); // through the network: the mesh wants a token
  });

  it('GIVEN each workload’s Sidecar lists only what it calls WHEN a mesh workload calls a service it never declared THEN its own proxy refuses it (502 where it has an HTTP listener on the port, closed where it has none), naming its Sidecar, as intended', () => {
    const c = cell('shop/payment-service', 'POST', '/api/payments', 'shop/shop-web');
    expect(c).toMatchObject({ outcome: 'blocked', status: 502, intended: 'deny' });
    expect(c?.policies).toEqual(['shop/shop-web']);
    expect(c?.reason).toContain('shop/payment-service is not in its egress');
    // Keycloak's proxy sees istio-system alone: no listener on 8080 at all.
    expect(cell('shop/order-service', 'GET', '/api/orders', 'auth/keycloak')).toMatchObject({
      outcome: 'blocked',
      status: 0,
      policies: ['auth/keycloak'],
    });
    // Every declared call still goes through the callers' proxies.
    expect(
      cell('shop/payment-service', 'POST', '/api/internal/reconcile', 'shop/payment-reconciler')
        ?.outcome,
    ).not.toBe('blocked');
    expect(m.cells.filter((x) => x.outcome === 'blocked' && x.intended === 'allow')).toEqual([]);
  });

  it('GIVEN the JWKS fetched by the verifying proxies (red-team M4) THEN each of them gets the keys over mTLS, and a plaintext caller and a workload that verifies no token do not', () => {
    const certs = '/realms/shop/protocol/openid-connect/certs';
    for (const verifier of ['shop/order-service', 'shop/payment-service', 'shop/shop-web']) {
      expect(cell('auth/keycloak', 'GET', certs, verifier)).toMatchObject({
        outcome: 'allow',
        intended: 'allow',
      });
    }
    expect(cell('auth/keycloak', 'GET', certs, 'internet (gateway)')?.outcome).toBe('allow');
    expect(cell('auth/keycloak', 'GET', certs, 'plaintext')).toMatchObject({
      outcome: 'unreachable',
      intended: 'deny',
    });
    // ratelimit verifies no token: its Sidecar does not list Keycloak, its proxy refuses.
    expect(cell('auth/keycloak', 'GET', certs, 'ratelimit/ratelimit')).toMatchObject({
      outcome: 'blocked',
      intended: 'deny',
    });
  });

  it('says what X and B mean under the table', () => {
    expect(formatMatrix(m)).toContain('X unreachable (NetworkPolicy)');
    expect(formatMatrix(m)).toContain("B blocked by the caller's Sidecar egress");
  });
});
