import {
  realmModel,
  realmPrincipals,
  scopePermitted,
  tokenOf,
} from '../../contract/keycloak-realm.js';
import { mapper, meshScopes } from '../support/realm-export.js';

const ISSUER = 'https://kc.example.com/realms/demo';
/** A realm export: roles, scopes, a public login client, a confidential client, users. */
const realm = {
  realm: 'demo',
  roles: {
    realm: [
      { name: 'USER' },
      { name: 'ADMIN', composite: true, composites: { realm: ['AUDITOR'] } },
      { name: 'AUDITOR' },
    ],
  },
  groups: [
    { name: 'staff', realmRoles: ['ADMIN'], subGroups: [{ name: 'night', realmRoles: [] }] },
  ],
  clientScopes: [
    ...meshScopes('api'),
    { name: 'profile' },
    { name: 'admin:read' },
    {
      name: 'audit',
      protocolMappers: [
        mapper('oidc-hardcoded-claim-mapper', { 'claim.name': 'tier', 'claim.value': 'gold' }),
      ],
    },
  ],
  scopeMappings: [{ clientScope: 'admin:read', roles: ['ADMIN'] }],
  defaultDefaultClientScopes: ['basic', 'roles', 'api'],
  clients: [
    { clientId: 'web', publicClient: true, optionalClientScopes: ['admin:read', 'audit'] },
    {
      clientId: 'job',
      publicClient: false,
      standardFlowEnabled: false,
      serviceAccountsEnabled: true,
      defaultClientScopes: ['basic', 'roles', 'api'],
    },
    { clientId: 'off', enabled: false },
    {
      clientId: 'narrow',
      publicClient: false,
      standardFlowEnabled: false,
      serviceAccountsEnabled: true,
      fullScopeAllowed: false,
      defaultClientScopes: ['basic', 'roles'],
    },
  ],
  users: [
    { username: 'ann', realmRoles: ['USER'] },
    { username: 'bo', realmRoles: ['USER'], groups: ['/staff/night'] },
    { username: 'gone', enabled: false, realmRoles: ['ADMIN'] },
    { username: 'service-account-narrow', serviceAccountClientId: 'narrow', realmRoles: ['USER'] },
  ],
};

describe('realmModel', () => {
  const model = realmModel(realm, ISSUER, [{ name: 'guest', roles: [] }]);

  test('users: composites and (parent) group roles are held; disabled users and clients are left out', () => {
    expect(
      model.subjects.map((s) => `${s.kind} ${s.roles.join('+')} ${s.holders.join(',')}`),
    ).toEqual([
      'user USER ann',
      'user USER+ADMIN+AUDITOR bo',
      'user  guest',
      'service-account USER narrow',
      'service-account default-roles-demo+offline_access+uma_authorization job',
    ]);
    expect(model.clients.map((c) => c.clientId)).toEqual(['web', 'job', 'narrow']);
  });

  test('a client without its own scope lists gets the realm defaults', () => {
    expect(model.clients[0]?.defaultScopes).toEqual(['basic', 'roles', 'api']);
  });

  test('a scope with role scope mappings is only for holders of those roles; one without, for all', () => {
    expect(scopePermitted(model, 'admin:read', ['USER'])).toBe(false);
    expect(scopePermitted(model, 'admin:read', ['USER', 'ADMIN'])).toBe(true);
    expect(scopePermitted(model, 'audit', [])).toBe(true);
    expect(scopePermitted(model, 'nope', ['ADMIN'])).toBe(false);
  });

  test('the token: sub and aud from mappers, roles where the mapper says, openid for user logins only, scope names in scope', () => {
    const ann = model.subjects.at(0);
    const web = model.clients.at(0);
    if (ann === undefined || web === undefined) throw new Error('fixture');
    expect(tokenOf(model, ann, web, ['admin:read', 'audit'])).toEqual({
      scopes: ['basic', 'roles', 'api', 'audit'],
      claims: {
        iss: ISSUER,
        typ: 'Bearer',
        azp: 'web',
        scope: 'openid audit',
        sub: 'user:ann',
        realm_access: { roles: ['USER'] },
        tier: 'gold',
        aud: 'api',
      },
    });
  });

  test('without fullScopeAllowed a client sees only the roles in its scope mappings', () => {
    const narrow = model.subjects.find((s) => s.client === 'narrow');
    const client = model.clients.find((c) => c.clientId === 'narrow');
    if (narrow === undefined || client === undefined) throw new Error('fixture');
    expect(tokenOf(model, narrow, client, []).claims).toEqual({
      iss: ISSUER,
      typ: 'Bearer',
      azp: 'narrow',
      scope: '',
      sub: 'service-account-narrow',
      realm_access: { roles: [] },
    });
  });

  test('throws when the JSON has no realm name, naming the issuer', () => {
    expect(() => realmModel({}, ISSUER)).toThrow(
      `realm JSON for issuer '${ISSUER}' has no "realm" name`,
    );
  });
});

describe('realmPrincipals', () => {
  test('one per kind of user and login client, with and without the optional scopes it can obtain; one per service account', () => {
    const principals = realmPrincipals(realmModel(realm, ISSUER));
    expect(principals.map((p) => `${p.kind} ${p.name} [${p.scopes.join(' ')}]`)).toEqual([
      'user USER [basic roles api]',
      'user USER +audit [basic roles api audit]',
      'user USER+ADMIN+AUDITOR [basic roles api]',
      'user USER+ADMIN+AUDITOR +admin:read +audit [basic roles api admin:read audit]',
      'client narrow (client) [basic roles]',
      'client job (client) [basic roles api]',
    ]);
  });
});
