/**
 * Keycloak (server distribution from Maven Central) in dev mode on loopback, on the Temurin 25
 * JDK, with realm JSON files imported at start. Each start works in its own copy of the
 * distribution (dev mode writes its build and data under its home folder).
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

/** realms: file name -> realm JSON text, imported with --import-realm. */
export async function startKeycloak(realms: Record<string, string>): Promise<Keycloak> {
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
