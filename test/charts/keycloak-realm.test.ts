import {
  clientSecretEnv,
  type RealmClient,
  realmEndpoints,
  realmSecretEnv,
  type RealmSpec,
  renderRealm,
  userPasswordEnv,
  validateRealm,
} from '../../charts/lib/index.js';

/** A small valid realm; each failure test breaks exactly one thing in it. */
const web: RealmClient = {
  clientId: 'web',
  public: true,
  flows: ['authorization-code'],
  redirectUris: ['https://app.example.com/callback'],
  webOrigins: ['https://app.example.com'],
  defaultScopes: ['basic', 'api-audience'],
  optionalScopes: ['admin:read'],
};
const job: RealmClient = {
  clientId: 'nightly-job',
  public: false,
  flows: ['client-credentials'],
  secret: { secretName: 'nightly-job-oauth', key: 'client-secret' },
  defaultScopes: ['basic', 'api-audience'],
  serviceAccountRoles: ['ADMIN'],
};
const realm: RealmSpec = {
  name: 'demo',
  roles: [{ name: 'USER' }, { name: 'ADMIN' }],
  clientScopes: [
    { name: 'basic', includeInTokenScope: false, mappers: [{ type: 'subject' }] },
    { name: 'api-audience', mappers: [{ type: 'audience', audience: 'api' }] },
    { name: 'admin:read' },
  ],
  clients: [web, job],
  devUsers: [
    {
      username: 'carol',
      email: 'carol@example.com',
      firstName: 'Carol',
      lastName: 'Tester',
      realmRoles: ['USER'],
      password: { secretName: 'demo-users', key: 'carol' },
    },
  ],
};
const withClient = (patch: Partial<RealmClient>, base: RealmClient = web): RealmSpec => ({
  ...realm,
  clients: [{ ...base, ...patch }, ...realm.clients.filter((c) => c !== base)],
});

describe('validateRealm applies the seed defaults', () => {
  test('token lifetimes, rotation, brute force and TLS default to the secure values', () => {
    // WHEN
    const resolved = validateRealm(realm);
    // THEN
    expect(resolved).toMatchObject({
      accessTokenLifespan: 300,
      ssoSessionIdleTimeout: 1800,
      revokeRefreshToken: true,
      refreshTokenMaxReuse: 0,
      bruteForceProtected: true,
      sslRequired: 'external',
    });
  });
});

describe('renderRealm', () => {
  const json = renderRealm(realm, { includeDevUsers: true }) as any;
  const client = (id: string) => json.clients.find((c: any) => c.clientId === id);

  test('a public client gets the code flow with PKCE S256 and nothing else', () => {
    expect(client('web')).toMatchObject({
      publicClient: true,
      standardFlowEnabled: true,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: false,
      serviceAccountsEnabled: false,
      redirectUris: ['https://app.example.com/callback'],
      attributes: { 'pkce.code.challenge.method': 'S256' },
    });
    expect(client('web')).not.toHaveProperty('secret');
  });

  test('a confidential client gets client credentials and a secret placeholder', () => {
    expect(client('nightly-job')).toMatchObject({
      publicClient: false,
      standardFlowEnabled: false,
      directAccessGrantsEnabled: false,
      serviceAccountsEnabled: true,
      clientAuthenticatorType: 'client-secret',
      secret: '${DEMO_CLIENT_NIGHTLY_JOB_SECRET}',
    });
  });

  test('service-account roles are rendered as Keycloak exports them', () => {
    expect(json.users).toContainEqual({
      username: 'service-account-nightly-job',
      enabled: true,
      serviceAccountClientId: 'nightly-job',
      realmRoles: ['ADMIN'],
    });
  });

  test('demo users have a complete profile and a password placeholder', () => {
    const carol = json.users.find((u: any) => u.username === 'carol');
    expect(carol).toMatchObject({
      email: 'carol@example.com',
      emailVerified: true,
      firstName: 'Carol',
      lastName: 'Tester',
      realmRoles: ['USER'],
      requiredActions: [],
      credentials: [{ type: 'password', value: '${DEMO_USER_CAROL_PASSWORD}', temporary: false }],
    });
  });

  test('demo users are left out unless asked for', () => {
    const prod = renderRealm(realm, { includeDevUsers: false }) as any;
    expect(prod.users.map((u: any) => u.username)).toEqual(['service-account-nightly-job']);
  });

  test('mappers put sub, the audience and realm roles where Istio reads them', () => {
    const withRoles: RealmSpec = {
      ...realm,
      clientScopes: [...realm.clientScopes, { name: 'roles', mappers: [{ type: 'realm-roles' }] }],
    };
    const scopes = (renderRealm(withRoles, { includeDevUsers: false }) as any).clientScopes;
    const mapper = (scope: string) => scopes.find((s: any) => s.name === scope).protocolMappers[0];
    expect(mapper('basic')).toMatchObject({
      protocolMapper: 'oidc-sub-mapper',
      config: { 'access.token.claim': 'true' },
    });
    expect(mapper('api-audience')).toMatchObject({
      protocolMapper: 'oidc-audience-mapper',
      config: { 'included.custom.audience': 'api', 'access.token.claim': 'true' },
    });
    expect(mapper('roles')).toMatchObject({
      protocolMapper: 'oidc-usermodel-realm-role-mapper',
      config: { 'claim.name': 'realm_access.roles', multivalued: 'true' },
    });
  });

  test('profile mappers put the name and the roles into the ID token only, never the access token', () => {
    const withProfile: RealmSpec = {
      ...realm,
      clientScopes: [
        ...realm.clientScopes,
        {
          name: 'profile',
          mappers: [
            { type: 'username' },
            { type: 'full-name' },
            { type: 'realm-roles', token: 'id' },
          ],
        },
      ],
    };
    const scopes = (renderRealm(withProfile, { includeDevUsers: false }) as any).clientScopes;
    const mappers = scopes.find((s: any) => s.name === 'profile').protocolMappers;
    expect(mappers.map((m: any) => [m.protocolMapper, m.config['claim.name']])).toEqual([
      ['oidc-usermodel-attribute-mapper', 'preferred_username'],
      ['oidc-full-name-mapper', undefined],
      ['oidc-usermodel-realm-role-mapper', 'realm_access.roles'],
    ]);
    for (const m of mappers) {
      expect(m.config).toMatchObject({ 'id.token.claim': 'true', 'access.token.claim': 'false' });
    }
  });

  test('the secret environment names every placeholder and its Secret key', () => {
    expect(realmSecretEnv(realm, { includeDevUsers: true })).toEqual({
      [clientSecretEnv('demo', 'nightly-job')]: {
        secretName: 'nightly-job-oauth',
        key: 'client-secret',
      },
      [userPasswordEnv('demo', 'carol')]: { secretName: 'demo-users', key: 'carol' },
    });
    expect(Object.keys(realmSecretEnv(realm, { includeDevUsers: false }))).toEqual([
      'DEMO_CLIENT_NIGHTLY_JOB_SECRET',
    ]);
  });
});

describe('realmEndpoints', () => {
  test('derives the issuer from the public URL and the rest from the in-cluster Service', () => {
    expect(realmEndpoints('demo', { publicUrl: 'https://id.example.com' })).toEqual({
      issuer: 'https://id.example.com/realms/demo',
      jwksUri:
        'http://keycloak.auth.svc.cluster.local:8080/realms/demo/protocol/openid-connect/certs',
      tokenUrl:
        'http://keycloak.auth.svc.cluster.local:8080/realms/demo/protocol/openid-connect/token',
      authorizationUrl: 'https://id.example.com/realms/demo/protocol/openid-connect/auth',
      internalRealmUrl: 'http://keycloak.auth.svc.cluster.local:8080/realms/demo',
    });
  });

  test('throws when the public URL is not https', () => {
    expect(() => realmEndpoints('demo', { publicUrl: 'http://id.example.com' })).toThrow(
      "'publicUrl' ('http://id.example.com') must be an https URL",
    );
  });

  test('throws when the public URL has a path', () => {
    expect(() => realmEndpoints('demo', { publicUrl: 'https://id.example.com/auth' })).toThrow(
      'must be a bare origin without path or query',
    );
  });
});

describe('bad realm data is a synth-time error naming it', () => {
  test.each<[string, RealmSpec, string]>([
    [
      'a service account has an unknown role',
      withClient({ serviceAccountRoles: ['AUDITOR'] }, job),
      "client 'nightly-job': service-account role 'AUDITOR' is not a realm role (defined: USER, ADMIN)",
    ],
    [
      'a default scope is not defined',
      withClient({ defaultScopes: ['basic', 'profile'] }),
      "client 'web': default scope 'profile' is not a client scope of the realm",
    ],
    [
      'an optional scope is not defined',
      withClient({ optionalScopes: ['orders:write'] }),
      "client 'web': optional scope 'orders:write' is not a client scope of the realm",
    ],
    [
      'a redirect URI has a wildcard host',
      withClient({ redirectUris: ['https://*.example.com/callback'] }),
      "client 'web': redirect URI 'https://*.example.com/callback' has a wildcard host",
    ],
    [
      'a redirect URI has a wildcard path',
      withClient({ redirectUris: ['https://app.example.com/*'] }),
      "redirect URI 'https://app.example.com/*' has a wildcard; redirect URIs must be exact",
    ],
    [
      'a redirect URI is plain http to a real host',
      withClient({ redirectUris: ['http://app.example.com/callback'] }),
      "redirect URI 'http://app.example.com/callback' must use https",
    ],
    [
      'a web origin is a wildcard',
      withClient({ webOrigins: ['*'] }),
      "client 'web': web origin '*' must be an exact origin",
    ],
    [
      'a public client uses client credentials',
      withClient({ flows: ['authorization-code', 'client-credentials'] }),
      "client 'web': a public client cannot use the 'client-credentials' flow",
    ],
    [
      'a public client has a secret',
      withClient({ secret: { secretName: 'web', key: 'secret' } }),
      "client 'web': a public client has no 'secret'",
    ],
    [
      'a confidential client has no secret',
      withClient({ secret: undefined }, job),
      "client 'nightly-job': a confidential client needs 'secret'",
    ],
    [
      'the code flow has no redirect URI',
      withClient({ redirectUris: [] }),
      "client 'web': the 'authorization-code' flow needs at least one redirect URI",
    ],
    [
      "no default scope maps 'sub'",
      withClient({ defaultScopes: ['api-audience'] }),
      "client 'web': no default scope maps 'sub'",
    ],
    [
      'service-account roles without client credentials',
      withClient({ serviceAccountRoles: ['USER'] }),
      "client 'web': 'serviceAccountRoles' need the 'client-credentials' flow",
    ],
    [
      'a scope is both default and optional',
      withClient({ optionalScopes: ['basic'] }),
      "client 'web': scope 'basic' is both a default and an optional scope",
    ],
    [
      'the access token lifetime is zero',
      { ...realm, accessTokenLifespan: 0 },
      "realm 'demo': 'accessTokenLifespan' (0) must be a positive whole number of seconds",
    ],
    [
      'the SSO idle timeout is negative',
      { ...realm, ssoSessionIdleTimeout: -5 },
      "'ssoSessionIdleTimeout' (-5) must be a positive whole number of seconds",
    ],
    [
      'the access token outlives the SSO idle time',
      { ...realm, accessTokenLifespan: 3600, ssoSessionIdleTimeout: 1800 },
      "'accessTokenLifespan' (3600s) must not exceed 'ssoSessionIdleTimeout' (1800s)",
    ],
    [
      'a demo user has an unknown role',
      {
        ...realm,
        devUsers: [{ ...(realm.devUsers ?? [])[0], realmRoles: ['ROOT'] }],
      },
      "user 'carol': role 'ROOT' is not a realm role",
    ],
    [
      'a client is declared twice',
      { ...realm, clients: [web, web] },
      "realm 'demo': client 'web' is declared twice",
    ],
    ['the realm is master', { ...realm, name: 'master' }, "the 'master' realm cannot be imported"],
    [
      "a client takes the name of one of Keycloak's built-in clients",
      withClient({ clientId: 'admin-cli' }),
      "client 'admin-cli': 'admin-cli' is one of Keycloak's built-in clients",
    ],
    [
      "a scope's grantedToRoles is empty (it would grant the scope to everyone)",
      { ...realm, clientScopes: [...realm.clientScopes, { name: 'x', grantedToRoles: [] }] },
      "client scope 'x': 'grantedToRoles' is empty (an empty list would grant the scope to everyone); name roles or remove it",
    ],
    [
      "a scope's grantedToRoles names a role the realm lacks",
      { ...realm, clientScopes: [...realm.clientScopes, { name: 'x', grantedToRoles: ['ROOT'] }] },
      "client scope 'x': 'grantedToRoles' names 'ROOT', which is not a realm role (defined: USER, ADMIN)",
    ],
    [
      'a user class names a role the realm lacks',
      { ...realm, userClasses: [{ name: 'root', realmRoles: ['ROOT'] }] },
      "user class 'root': role 'ROOT' is not a realm role",
    ],
    [
      'a user class is declared twice',
      {
        ...realm,
        userClasses: [
          { name: 'customer', realmRoles: ['USER'] },
          { name: 'customer', realmRoles: ['ADMIN'] },
        ],
      },
      "realm 'demo': user class 'customer' is declared twice",
    ],
    [
      "a demo user's roles are none of the user classes",
      { ...realm, userClasses: [{ name: 'staff', realmRoles: ['USER', 'ADMIN'] }] },
      "user 'carol' holds [USER], which is no user class (staff: [USER, ADMIN])",
    ],
    [
      'a Secret reference is not a valid name',
      withClient({ secret: { secretName: 'Bad_Name', key: 'k' } }, job),
      "client 'nightly-job': 'secret' Secret name 'Bad_Name' is not a valid Secret name",
    ],
  ])('throws when %s', (_case, spec, message) => {
    expect(() => validateRealm(spec)).toThrow(message);
  });
});

describe('client scopes granted to roles', () => {
  test('GIVEN grantedToRoles WHEN rendered THEN the scope has role scope mappings, and only it', () => {
    // GIVEN
    const spec: RealmSpec = {
      ...realm,
      clientScopes: realm.clientScopes.map((s) =>
        s.name === 'admin:read' ? { ...s, grantedToRoles: ['ADMIN'] } : s,
      ),
    };
    // WHEN
    const json = renderRealm(spec, { includeDevUsers: false });
    // THEN
    expect(json.scopeMappings).toEqual([{ clientScope: 'admin:read', roles: ['ADMIN'] }]);
    expect(renderRealm(realm, { includeDevUsers: false }).scopeMappings).toEqual([]);
  });
});

describe("Keycloak's built-in admin-cli", () => {
  test('is rendered disabled with no flow, so the public token endpoint offers no password grant', () => {
    const clients = renderRealm(realm, { includeDevUsers: false }).clients as Record<
      string,
      unknown
    >[];
    expect(clients.find((c) => c.clientId === 'admin-cli')).toEqual({
      clientId: 'admin-cli',
      enabled: false,
      publicClient: true,
      standardFlowEnabled: false,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: false,
      serviceAccountsEnabled: false,
      defaultClientScopes: [],
      optionalClientScopes: [],
    });
    expect(clients.every((c) => c.directAccessGrantsEnabled === false)).toBe(true);
  });
});
