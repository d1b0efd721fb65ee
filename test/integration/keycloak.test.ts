/** Keycloak dev mode started with the realm synthesized into dist/ (ConfigMap labelled app: keycloak). */
import { objectsOfKind } from './components/dist.js';
import { startKeycloak, type Keycloak } from './components/keycloak.js';

function distRealms(): Record<string, string> {
  const realms: Record<string, string> = {};
  for (const cm of objectsOfKind('ConfigMap').filter(
    (c) => c.metadata.labels?.app === 'keycloak',
  )) {
    for (const [file, text] of Object.entries(
      (cm.data as Record<string, string> | undefined) ?? {},
    )) {
      if (file.endsWith('.json')) realms[file] = text;
    }
  }
  if (Object.keys(realms).length === 0) {
    throw new Error('dist/ has no ConfigMap labelled app: keycloak with a realm *.json');
  }
  return realms;
}

let keycloak: Keycloak;
let realmNames: string[];
let realmJson: Realm[];

interface Realm {
  readonly realm: string;
  readonly clients?: readonly {
    readonly clientId: string;
    readonly secret?: string;
    readonly serviceAccountsEnabled?: boolean;
  }[];
}

beforeAll(async () => {
  const realms = distRealms();
  realmJson = Object.values(realms).map((text) => JSON.parse(text) as Realm);
  realmNames = realmJson.map((realm) => realm.realm);
  keycloak = await startKeycloak(realms);
}, 480_000);

afterAll(async () => {
  await keycloak.stop();
});

describe('Keycloak with the dist/ realm', () => {
  test('GIVEN the imported realms WHEN their OpenID discovery documents are fetched THEN each names its own issuer', async () => {
    expect(realmNames.length).toBeGreaterThan(0);
    for (const realm of realmNames) {
      const response = await fetch(
        `${keycloak.url}/realms/${realm}/.well-known/openid-configuration`,
      );
      const discovery = (await response.json()) as { issuer: string; jwks_uri: string };

      expect({ realm, status: response.status, issuer: discovery.issuer }).toEqual({
        realm,
        status: 200,
        issuer: `${keycloak.url}/realms/${realm}`,
      });
    }
  });

  test('GIVEN the imported realms WHEN their JWKS is fetched THEN it holds a signing key', async () => {
    for (const realm of realmNames) {
      const response = await fetch(`${keycloak.url}/realms/${realm}/protocol/openid-connect/certs`);
      const jwks = (await response.json()) as { keys: { use?: string; alg?: string }[] };

      expect(response.status).toBe(200);
      expect(jwks.keys.some((key) => key.use === 'sig')).toBe(true);
    }
  });

  test('GIVEN each service-account client with its secret from the environment WHEN it asks for a client-credentials token THEN Keycloak issues one', async () => {
    const clients = realmJson.flatMap((realm) =>
      (realm.clients ?? [])
        .filter((client) => client.serviceAccountsEnabled === true)
        .map((client) => ({ realm: realm.realm, client })),
    );
    expect(clients.length).toBeGreaterThan(0);

    for (const { realm, client } of clients) {
      const placeholder = /^\$\{([A-Z0-9_]+)\}$/.exec(client.secret ?? '')?.[1];
      const secret = placeholder === undefined ? client.secret : keycloak.secrets[placeholder];
      const response = await fetch(
        `${keycloak.url}/realms/${realm}/protocol/openid-connect/token`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: client.clientId,
            client_secret: secret ?? '',
          }),
        },
      );
      const body = (await response.json()) as { access_token?: string; token_type?: string };

      expect({ client: client.clientId, status: response.status, type: body.token_type }).toEqual({
        client: client.clientId,
        status: 200,
        type: 'Bearer',
      });
    }
  });

  test('rejects a client-credentials request of a service-account client with a wrong secret', async () => {
    const realm = realmJson.find((r) => r.clients?.some((c) => c.serviceAccountsEnabled === true));
    const client = realm?.clients?.find((c) => c.serviceAccountsEnabled === true);
    if (realm === undefined || client === undefined)
      throw new Error('no service-account client in the dist/ realms');
    const response = await fetch(
      `${keycloak.url}/realms/${realm.realm}/protocol/openid-connect/token`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client.clientId,
          client_secret: 'wrong',
        }),
      },
    );

    expect(response.status).toBe(401);
  });
});
