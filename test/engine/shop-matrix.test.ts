import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatMatrix,
  lint,
  loadManifests,
  matrix,
  mismatches,
} from '../../policies/engine/index.js';

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

  it('has exactly the one known warning: Keycloak PERMISSIVE for the JWKS fetch', () => {
    // auth/keycloak names caller principals on a port that stays PERMISSIVE so that
    // istiod (no sidecar) can fetch the JWKS (see the meshward.io/reason annotation).
    // Any other warning is new and needs a look.
    expect(
      lint(manifests())
        .filter((f) => f.severity === 'warning')
        .map((f) => `${f.code} ${f.object}`),
    ).toEqual(['MW002 AuthorizationPolicy auth/keycloak']);
  });

  it('has no cell where the mesh differs from the meshward.io/routes intent', () => {
    // The gateway's IP allowlist admits private ranges only (a kind lab), so the
    // internet client is modeled from a private address; see the next test.
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

  it('GIVEN payment-service admits only its callers’ pods WHEN another workload calls it THEN the cell is unreachable, naming the policies, as intended', () => {
    const c = cell('shop/payment-service', 'POST', '/api/payments', 'shop/shop-web');
    expect(c).toMatchObject({ outcome: 'unreachable', status: 0, intended: 'deny' });
    expect(c?.policies).toEqual(['shop/default-deny-ingress', 'shop/payment-service']);
    expect(
      cell('shop/payment-service', 'POST', '/api/payments', 'shop/order-service'),
    ).toMatchObject({ outcome: 'deny', status: 403 }); // through the network: the mesh wants a token
  });

  it('GIVEN the JWKS route open to every caller WHEN a NetworkPolicy refuses a caller THEN the intent is "any" (the network decides), and the gateway still gets the keys', () => {
    const certs = '/realms/shop/protocol/openid-connect/certs';
    expect(cell('auth/keycloak', 'GET', certs, 'shop/order-service')).toMatchObject({
      outcome: 'unreachable',
      intended: 'any',
    });
    expect(cell('auth/keycloak', 'GET', certs, 'internet (gateway)')?.outcome).toBe('allow');
  });

  it('says what X means under the table', () => {
    expect(formatMatrix(m)).toContain('X unreachable (NetworkPolicy)');
  });
});
