import { startLocalOrderService } from '../../services/order-service/harness.js';
import { AUDIENCE, createTestIssuer, distRoutes, ISSUER } from './support.js';

describe('startLocalOrderService (benchmark harness)', () => {
  test.each(['mesh', 'verify'] as const)(
    'serves orders on loopback in %s mode',
    async (authMode) => {
      // GIVEN order-service started by the harness
      const issuer = await createTestIssuer();
      const svc = await startLocalOrderService({
        authMode,
        issuer: ISSUER,
        audience: AUDIENCE,
        keySet: issuer.keySet,
        routes: distRoutes('order-service'),
      });
      try {
        // WHEN a token is presented THEN the caller's (empty) order list comes back
        const ok = await fetch(`${svc.url}/api/orders`, {
          headers: { authorization: `Bearer ${await issuer.mint()}` },
        });
        expect(ok.status).toBe(200);
        expect(await ok.json()).toEqual({ orders: [] });
        // AND a token from another issuer is refused only in verify mode (mesh trusts the sidecar)
        const foreign = await (await createTestIssuer()).mint();
        const res = await fetch(`${svc.url}/api/orders`, {
          headers: { authorization: `Bearer ${foreign}` },
        });
        await res.arrayBuffer();
        expect(res.status).toBe(authMode === 'verify' ? 401 : 200);
      } finally {
        await svc.shutdown();
      }
    },
  );
});
