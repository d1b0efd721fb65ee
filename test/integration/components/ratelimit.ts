/**
 * Redis (Debian redis-server) + the Envoy ratelimit service on loopback, fed a rate-limit config
 * in the service's own file format (runtime folder `<root>/ratelimit/config/*.yaml`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runDir, startServer, waitUntil, type Server } from './process.js';
import { tools } from './tools.js';

export interface RateLimitService {
  readonly url: string;
  /** POST /json: the service's verdict for one descriptor of `domain`. */
  check(domain: string, entries: readonly DescriptorEntry[]): Promise<'OK' | 'OVER_LIMIT'>;
  stop(): Promise<void>;
}

export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}

/** configs: file name -> YAML text in the ratelimit service's config format. */
export async function startRateLimit(configs: Record<string, string>): Promise<RateLimitService> {
  const dir = join(runDir, `ratelimit-${String(Date.now())}`);
  const configDir = join(dir, 'runtime/ratelimit/config');
  mkdirSync(configDir, { recursive: true });
  for (const [file, text] of Object.entries(configs)) writeFileSync(join(configDir, file), text);

  const servers: Server[] = [];
  const stop = async () => {
    for (const server of servers.reverse()) await server.stop();
  };
  try {
    const redisPort = await freePort();
    const redis = startServer('redis', 'redis-server', [
      '--bind',
      '127.0.0.1',
      '--port',
      String(redisPort),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ]);
    servers.push(redis);
    const [httpPort, grpcPort, debugPort] = [await freePort(), await freePort(), await freePort()];
    const service = startServer('ratelimit', tools.ratelimit(), [], {
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(httpPort),
        GRPC_HOST: '127.0.0.1',
        GRPC_PORT: String(grpcPort),
        DEBUG_HOST: '127.0.0.1',
        DEBUG_PORT: String(debugPort),
        USE_STATSD: 'false',
        LOG_LEVEL: 'debug',
        BACKEND_TYPE: 'redis',
        REDIS_SOCKET_TYPE: 'tcp',
        REDIS_URL: `127.0.0.1:${String(redisPort)}`,
        RUNTIME_ROOT: join(dir, 'runtime'),
        RUNTIME_SUBDIRECTORY: 'ratelimit',
        RUNTIME_WATCH_ROOT: 'false',
        RUNTIME_IGNOREDOTFILES: 'true',
      },
    });
    servers.push(service);
    const url = `http://127.0.0.1:${String(httpPort)}`;
    await waitUntil(service, 'healthy', async () => (await fetch(`${url}/healthcheck`)).ok);

    return {
      url,
      stop,
      async check(domain, entries) {
        const response = await fetch(`${url}/json`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ domain, descriptors: [{ entries }] }),
        });
        const text = await response.text();
        const body = (text.startsWith('{') ? JSON.parse(text) : {}) as { overallCode?: string };
        if (body.overallCode === 'OK' || body.overallCode === 'OVER_LIMIT') return body.overallCode;
        throw new Error(
          `ratelimit /json answered ${String(response.status)} ${text}; log:\n${service.log()}`,
        );
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
