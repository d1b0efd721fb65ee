import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportSPKI, SignJWT, UnsecuredJWT } from 'jose';
import { createIdentityResolver, hasRole } from '../../services/shared/identity.js';
import { authConfig, AUDIENCE, createTestIssuer, ISSUER } from './support.js';
import type { TestIssuer } from './support.js';

function b64url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

/** The token with `exp` removed from its payload (the signature no longer matters in mesh mode). */
function withoutExp(jwt: string): string {
  const [header = '', payload = '', signature = ''] = jwt.split('.');
  const { exp: _exp, ...rest } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
    string,
    unknown
  >;
  return `${header}.${b64url(JSON.stringify(rest))}.${signature}`;
}

describe('identity from the bearer token', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await createTestIssuer();
  });

  test('verify mode reads subject, roles, scopes and client id from a valid token', async () => {
    // GIVEN a resolver in verify mode WHEN a valid token arrives
    const resolve = createIdentityResolver(authConfig('verify'), { keySet: issuer.keySet });
    const token = await issuer.mint({
      sub: 'alice',
      realm_access: { roles: ['USER', 'ADMIN'] },
      scope: 'openid orders:write',
    });
    const identity = await resolve(`Bearer ${token}`);
    // THEN the identity carries the claims and the raw token for propagation
    expect(identity).toEqual({
      subject: 'alice',
      clientId: 'shop-web',
      roles: ['USER', 'ADMIN'],
      scopes: ['openid', 'orders:write'],
      claims: expect.objectContaining({ sub: 'alice', iss: ISSUER, aud: AUDIENCE }) as unknown,
      token,
    });
    // AND the claims are frozen all the way down (a cached identity is shared)
    expect(Object.isFrozen(identity.claims)).toBe(true);
    expect(Object.isFrozen(identity.claims.realm_access)).toBe(true);
  });

  test.each([
    [
      'an Auth0-style top-level list',
      { JWT_ROLES_CLAIM: '["https://shop.example.com/roles"]' },
      { 'https://shop.example.com/roles': ['USER', 'ADMIN'] },
      ['USER', 'ADMIN'],
    ],
    [
      'a space-delimited string',
      { JWT_ROLES_CLAIM: 'roles', JWT_ROLES_CLAIM_FORMAT: 'space-delimited' },
      { roles: 'USER  ADMIN' },
      ['USER', 'ADMIN'],
    ],
    [
      'a nested list other than realm_access',
      { JWT_ROLES_CLAIM: 'resource_access.shop-api.roles' },
      { resource_access: { 'shop-api': { roles: ['ADMIN', 7] } } },
      ['ADMIN'],
    ],
  ])(
    'GIVEN JWT_ROLES_CLAIM naming %s WHEN a token arrives THEN roles come from that claim, not realm_access',
    async (_name, env, claims, roles) => {
      const resolve = createIdentityResolver(authConfig('mesh', 'order-service', env));
      const token = await issuer.mint({ realm_access: { roles: ['OTHER'] }, ...claims });
      const identity = await resolve(`Bearer ${token}`);
      expect(identity.roles).toEqual(roles);
      expect(hasRole(identity, 'ADMIN')).toBe(true);
      expect(hasRole(identity, 'OTHER')).toBe(false);
    },
  );

  test('mesh mode decodes without verifying (the sidecar verified)', async () => {
    const resolve = createIdentityResolver(authConfig('mesh'));
    const token = await issuer.mint({ sub: 'bob' });
    await expect(resolve(`Bearer ${token}`)).resolves.toMatchObject({ subject: 'bob' });
  });

  describe('mesh mode still refuses what a request that bypassed the sidecar could bring (red-team L10)', () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      sub: 'mallory',
      iss: ISSUER,
      aud: AUDIENCE,
      realm_access: { roles: ['USER', 'ADMIN'] },
    };
    const unsigned = (extra: Record<string, unknown>) =>
      new UnsecuredJWT({ ...claims, exp: now + 300, ...extra }).encode();

    test.each([
      [
        'an unsigned token (alg none)',
        () => unsigned({}),
        'token algorithm "none" is not accepted',
      ],
      [
        'an HMAC-signed token',
        () => {
          const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
          const body = b64url(JSON.stringify({ ...claims, exp: now + 300 }));
          const mac = createHmac('sha256', 'k').update(`${header}.${body}`).digest('base64url');
          return `${header}.${body}.${mac}`;
        },
        'token algorithm "HS256" is not accepted',
      ],
    ])('rejects %s with 401', async (_what, make, message) => {
      const resolve = createIdentityResolver(authConfig('mesh'));
      await expect(resolve(`Bearer ${make()}`)).rejects.toMatchObject({ status: 401, message });
    });

    test.each([
      ['an expired token', () => issuer.mint({}, { expiresIn: now - 3600 }), 'token has expired'],
      ['a token without exp', async () => withoutExp(await issuer.mint()), 'token has no exp'],
      [
        'a token not valid yet',
        () => issuer.mint({}, { notBefore: now + 3600 }),
        'token is not valid yet',
      ],
      [
        'a token of another issuer',
        () => issuer.mint({ iss: 'https://evil.example.com' }),
        'token is of another issuer',
      ],
    ])('rejects %s with 401, though signed', async (_what, make, message) => {
      const resolve = createIdentityResolver(authConfig('mesh'));
      await expect(resolve(`Bearer ${await make()}`)).rejects.toMatchObject({
        status: 401,
        message,
      });
    });
  });

  test('verify mode fetches the JWKS from JWKS_URI on loopback', async () => {
    // GIVEN a JWKS served by a local HTTP server
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(issuer.jwks));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const config = {
        ...authConfig('verify'),
        jwksUri: new URL(`http://127.0.0.1:${port}/certs`),
      };
      const resolve = createIdentityResolver(config);
      // WHEN a token is verified THEN the remote key is used
      await expect(resolve(`Bearer ${await issuer.mint({ sub: 'carol' })}`)).resolves.toMatchObject(
        { subject: 'carol' },
      );
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('rejects with 503 (not 401) when the JWKS endpoint is unreachable', async () => {
    // GIVEN a JWKS_URI on a loopback port nothing listens on
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r));
    const config = { ...authConfig('verify'), jwksUri: new URL(`http://127.0.0.1:${port}/certs`) };
    // WHEN a valid token is checked THEN the failure says the keys are unavailable
    await expect(
      createIdentityResolver(config)(`Bearer ${await issuer.mint()}`),
    ).rejects.toMatchObject({
      status: 503,
      code: 'jwks_unavailable',
    });
  });

  const now = Math.floor(Date.now() / 1000);
  const badTokens: [string, (i: TestIssuer) => Promise<string>][] = [
    [
      'alg none',
      () =>
        Promise.resolve(
          new UnsecuredJWT({ sub: 'x' })
            .setIssuer(ISSUER)
            .setAudience(AUDIENCE)
            .setExpirationTime('5m')
            .encode(),
        ),
    ],
    [
      'HS256 signed with the public key',
      async (i) => {
        const pem = await exportSPKI(i.publicKey);
        const header = b64url(JSON.stringify({ alg: 'HS256', kid: 'k1', typ: 'JWT' }));
        const payload = b64url(
          JSON.stringify({ sub: 'x', iss: ISSUER, aud: AUDIENCE, exp: now + 300 }),
        );
        const sig = createHmac('sha256', pem).update(`${header}.${payload}`).digest('base64url');
        return `${header}.${payload}.${sig}`;
      },
    ],
    ['expired', (i) => i.mint({}, { expiresIn: now - 3600 })],
    ['not yet valid', (i) => i.mint({}, { notBefore: now + 3600 })],
    ['wrong issuer', (i) => i.mint({ iss: 'https://evil.example.com/realms/shop' })],
    ['wrong audience', (i) => i.mint({ aud: 'other-api' })],
    ['unknown kid', (i) => i.mint({}, { kid: 'k-unknown' })],
    [
      'tampered signature',
      async (i) => {
        const [h, p, s] = (await i.mint()).split('.');
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
        return `${h}.${b64url(JSON.stringify({ ...claims, sub: 'admin' }))}.${s}`;
      },
    ],
    [
      'signed by another key with the same kid',
      async () => {
        const other = await createTestIssuer();
        return other.mint();
      },
    ],
    [
      'no subject',
      (i) =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(i.privateKey),
    ],
  ];

  test.each(badTokens)(
    'rejects a token that is %s with 401 in verify mode',
    async (_name, make) => {
      const resolve = createIdentityResolver(authConfig('verify'), { keySet: issuer.keySet });
      const token = await make(issuer);
      await expect(resolve(`Bearer ${token}`)).rejects.toMatchObject({
        status: 401,
        code: 'unauthorized',
      });
    },
  );

  test.each([undefined, '', 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer not-a-jwt', 'bearer a.b.c'])(
    'rejects the Authorization header %p with 401 in both modes',
    async (header) => {
      for (const mode of ['mesh', 'verify'] as const) {
        const resolve = createIdentityResolver(authConfig(mode), { keySet: issuer.keySet });
        await expect(resolve(header)).rejects.toMatchObject({ status: 401 });
      }
    },
  );
});
