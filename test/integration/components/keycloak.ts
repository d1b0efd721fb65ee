/**
 * Keycloak (server distribution from Maven Central) in dev mode on loopback, on the Temurin 25
 * JDK, with realm JSON files imported at start. Each start works in its own copy of the
 * distribution (dev mode writes its build and data under its home folder).
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { objectsOfKind } from './dist.js';
import { freePort, runDir, startServer, waitUntil } from './process.js';
import { tools } from './tools.js';

export const keycloakJavaHome =
  process.env.KEYCLOAK_JAVA_HOME ?? '/usr/lib/jvm/temurin-25-jdk-amd64';

export interface Keycloak {
  readonly url: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  /** The value given through the environment for each `${NAME}` placeholder of the realms. */
  readonly secrets: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/** The realm JSON files synthesized into dist/ (ConfigMaps labelled app: keycloak), by file name. */
export function distRealms(): Record<string, string> {
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

/**
 * Every `${NAME}` placeholder in the realm files: Keycloak's import replaces them with environment
 * variables, so each gets a fresh random value here, as a deployment gets them from a Secret.
 */
function placeholderSecrets(realms: Record<string, string>): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const text of Object.values(realms)) {
    for (const match of text.matchAll(/\$\{([A-Z][A-Z0-9_]*)\}/g)) {
      secrets[match[1]] = randomBytes(18).toString('base64url');
    }
  }
  return secrets;
}

export interface KeycloakOptions {
  /**
   * The public URL Keycloak puts into `iss` and its browser-facing links (`--hostname`), as the
   * deployment sets KC_HOSTNAME. Back-channel endpoints (token, certs) keep answering on the
   * loopback URL (`--hostname-backchannel-dynamic`).
   * @default - the loopback URL is the issuer
   */
  readonly hostname?: string;
  /**
   * Which forwarding headers Keycloak trusts (`--proxy-headers`), as the deployment sets
   * KC_PROXY_HEADERS behind the gateway.
   * @default - none
   */
  readonly proxyHeaders?: string;
  /**
   * The only peers whose forwarding headers count (`--proxy-trusted-addresses`), as the
   * deployment sets KC_PROXY_TRUSTED_ADDRESSES (its sidecar's inbound address).
   * @default - every peer
   */
  readonly proxyTrustedAddresses?: string;
}

/** realms: file name -> realm JSON text, imported with --import-realm. */
export async function startKeycloak(
  realms: Record<string, string>,
  options: KeycloakOptions = {},
): Promise<Keycloak> {
  const home = join(runDir, `keycloak-${String(Date.now())}`);
  cpSync(tools.keycloakHome(), home, { recursive: true });
  const importDir = join(home, 'data/import');
  mkdirSync(importDir, { recursive: true });
  for (const [file, text] of Object.entries(realms)) writeFileSync(join(importDir, file), text);

  const [httpPort, managementPort] = [await freePort(), await freePort()];
  const adminUser = 'meshward-admin';
  const adminPassword = randomBytes(18).toString('base64url');
  const secrets = placeholderSecrets(realms);
  const server = startServer(
    'keycloak',
    join(home, 'bin/kc.sh'),
    [
      'start-dev',
      '--import-realm',
      '--db=dev-mem',
      '--http-host=127.0.0.1',
      `--http-port=${String(httpPort)}`,
      `--http-management-port=${String(managementPort)}`,
      '--health-enabled=true',
      '--cache=local',
      ...(options.hostname === undefined
        ? []
        : [`--hostname=${options.hostname}`, '--hostname-backchannel-dynamic=true']),
      ...(options.proxyHeaders === undefined ? [] : [`--proxy-headers=${options.proxyHeaders}`]),
      ...(options.proxyTrustedAddresses === undefined
        ? []
        : [`--proxy-trusted-addresses=${options.proxyTrustedAddresses}`]),
    ],
    {
      env: {
        ...process.env,
        ...secrets,
        JAVA_HOME: keycloakJavaHome,
        // JBoss threads resets thread locals through java.lang internals; Java 24+ asks for this
        JAVA_OPTS_APPEND: '--add-opens=java.base/java.lang=ALL-UNNAMED',
        KC_BOOTSTRAP_ADMIN_USERNAME: adminUser,
        KC_BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
      },
      cwd: home,
    },
  );
  try {
    await waitUntil(
      server,
      'ready',
      async () => (await fetch(`http://127.0.0.1:${String(managementPort)}/health/ready`)).ok,
      420_000,
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${String(httpPort)}`,
    adminUser,
    adminPassword,
    secrets,
    stop: () => server.stop(),
  };
}

/** The value of a realm string that is a `${NAME}` placeholder, as given through the environment. */
export function resolvePlaceholder(keycloak: Keycloak, value: string): string {
  const name = /^\$\{([A-Z][A-Z0-9_]*)\}$/.exec(value)?.[1];
  if (name === undefined) return value;
  const secret = new Map(Object.entries(keycloak.secrets)).get(name);
  if (secret === undefined) throw new Error(`no value was given for the placeholder ${value}`);
  return secret;
}

async function adminToken(keycloak: Keycloak): Promise<string> {
  const response = await fetch(`${keycloak.url}/realms/master/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: 'admin-cli',
      username: keycloak.adminUser,
      password: keycloak.adminPassword,
    }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (body.access_token === undefined) {
    throw new Error(`admin login answered ${String(response.status)}: ${JSON.stringify(body)}`);
  }
  return body.access_token;
}

/** Calls Keycloak's admin REST API (`path` after /admin/realms/) as the bootstrap admin. */
export async function adminApi(
  keycloak: Keycloak,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<unknown> {
  const response = await fetch(`${keycloak.url}/admin/realms/${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${await adminToken(keycloak)}`,
      'content-type': 'application/json',
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  if (!response.ok) {
    throw new Error(
      `admin API ${init.method ?? 'GET'} ${path} answered ${String(response.status)}: ${await response.text()}`,
    );
  }
  return response.status === 204 ? undefined : response.json();
}

/**
 * Sets attributes of one client of a realm through Keycloak's admin REST API (e.g.
 * `access.token.lifespan`); resolves to a function that puts the previous values back.
 */
export async function setClientAttributes(
  keycloak: Keycloak,
  realm: string,
  clientId: string,
  attributes: Record<string, string>,
): Promise<() => Promise<void>> {
  const found = (await adminApi(
    keycloak,
    `${realm}/clients?clientId=${encodeURIComponent(clientId)}`,
  )) as { id: string; attributes?: Record<string, string> }[];
  const client = found.at(0);
  if (client === undefined) throw new Error(`realm ${realm} has no client ${clientId}`);
  const path = `${realm}/clients/${client.id}`;
  // An empty value removes an attribute, so the keys this call adds are emptied on restore.
  const restored = Object.fromEntries(Object.keys(attributes).map((key) => [key, '']));
  const before = { ...client, attributes: { ...restored, ...client.attributes } };
  await adminApi(keycloak, path, {
    method: 'PUT',
    body: { ...client, attributes: { ...client.attributes, ...attributes } },
  });
  return async () => {
    await adminApi(keycloak, path, { method: 'PUT', body: before });
  };
}
