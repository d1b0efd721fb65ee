/** Pieces of Keycloak realm exports (RealmRepresentation JSON) for tests of the realm model. */

/** A protocol mapper as a realm export writes it. */
export const mapper = (protocolMapper: string, config: Record<string, string> = {}) => ({
  protocolMapper,
  config,
});

/** A client scope whose name is not put into the token's `scope`. */
const silentScope = (name: string, protocolMappers: ReturnType<typeof mapper>[]) => ({
  name,
  attributes: { 'include.in.token.scope': 'false' },
  protocolMappers,
});

/**
 * The three scopes a mesh token needs: `basic` (sub), `roles` (realm_access.roles) and an
 * audience scope (named `audienceScope`, putting `api` into aud).
 */
export function meshScopes(audienceScope: string) {
  return [
    silentScope('basic', [mapper('oidc-sub-mapper')]),
    silentScope('roles', [
      mapper('oidc-usermodel-realm-role-mapper', { 'claim.name': 'realm_access.roles' }),
    ]),
    silentScope(audienceScope, [
      mapper('oidc-audience-mapper', { 'included.custom.audience': 'api' }),
    ]),
  ];
}
