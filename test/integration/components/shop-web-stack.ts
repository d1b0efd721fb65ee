/**
 * The shop's user-facing half on loopback, for the real-browser tests of shop-web:
 *
 *   Chromium ──HTTP proxy (CONNECT)──▶ edge (TLS, self-signed) ──┬─ auth.shop.example.com ─▶ Keycloak (dev mode, dist/ realm)
 *                                                              └─ shop.example.com ──┬─ /api/* ─▶ order-service (verify mode) ─▶ payment-service
 *                                                                                    └─ else ───▶ shop-web (server.ts + the esbuild bundle)
 *
 * Why a proxy on the real host names: the realm allows exactly one redirect URI,
 * https://shop.example.com/callback (and the CORS origin https://shop.example.com). Rather than a
 * test-only realm with a loopback redirect URI, the browser keeps the production origins: every
 * https request goes through a local HTTP proxy whose CONNECT tunnels end at one local TLS server
 * (a throw-away self-signed certificate; the browser context sets ignoreHTTPSErrors). So the
 * realm's redirect URIs, web origins and the app's generated config.json are the unmodified
 * synthesized ones. Keycloak runs with --hostname=https://auth.shop.example.com, as the
 * Deployment's KC_HOSTNAME, so `iss` is the production issuer too.
 *
 * The edge only routes (by host, then /api/ prefix) as the gateway's VirtualService does. It does
 * not enforce the mesh's AuthorizationPolicies: order-service in verify mode checks the token
 * (signature, issuer, audience, expiry), and the role rules are checked with `meshward decide`
 * on dist/. `keycloakDown` / `apiDown` make the edge answer 503 "no healthy upstream", as
 * Envoy does when a backend has no ready endpoint.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import {
  Agent,
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request as httpRequest,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { AUTH_HOST, SHOP_HOST } from '../../../policies/gateway.js';
import { run, runDir } from './process.js';

export { AUTH_HOST, SHOP_HOST };

/** Istio's InboundPassthroughBindIpv4: where a sidecar's connections to its own app come from. */
const SIDECAR_INBOUND_ADDRESS = '127.0.0.6';

export interface Edge {
  /** The HTTP proxy the browser uses (`proxy: { server }`). */
  readonly proxyUrl: string;
  /** Answer 503 for auth.shop.example.com, as a gateway whose Keycloak has no ready endpoint. */
  keycloakDown: boolean;
  /** Answer 503 for shop.example.com/api/*. */
  apiDown: boolean;
  stop(): Promise<void>;
}

export interface EdgeBackends {
  readonly keycloak: string;
  readonly api: string;
  readonly web: string;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())),
  );
}

function selfSignedCertificate(): { key: Buffer; cert: Buffer } {
  const dir = join(runDir, 'shop-web-tls');
  mkdirSync(dir, { recursive: true });
  const result = run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${SHOP_HOST}`,
    '-addext',
    `subjectAltName=DNS:${SHOP_HOST},DNS:${AUTH_HOST}`,
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  if (result.status !== 0) throw new Error(`openssl failed: ${result.stderr}`);
  return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
}

async function listen(server: HttpServer): Promise<number> {
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolveListen();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** The local stand-in for the ingress gateway's routing (see the file comment). */
export async function startEdge(backends: EdgeBackends): Promise<Edge> {
  const state = { keycloakDown: false, apiDown: false };
  // No idle keep-alive sockets to the backends: stop() leaves nothing open behind.
  const agent = new Agent({ keepAlive: false });
  const unavailable = (res: ServerResponse): void => {
    res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream');
  };
  const forward = (req: IncomingMessage, res: ServerResponse, target: string): void => {
    const host = req.headers.host ?? '';
    const upstream = httpRequest(
      new URL(req.url ?? '/', target),
      {
        method: req.method,
        agent,
        // From the address a sidecar connects to its app from: Keycloak believes the forwarded
        // headers only from there (KC_PROXY_TRUSTED_ADDRESSES), and they are the edge's own,
        // as the gateway writes its own (red-team L5).
        localAddress: SIDECAR_INBOUND_ADDRESS,
        headers: {
          ...endToEnd(req.headers),
          'x-forwarded-for': req.socket.remoteAddress ?? '127.0.0.1',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': host,
          'x-forwarded-port': '443',
        },
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, endToEnd(upstreamRes.headers));
        upstreamRes.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) unavailable(res);
      else res.destroy();
    });
    req.pipe(upstream);
  };
  const tls = createHttpsServer(selfSignedCertificate(), (req, res) => {
    const host = (req.headers.host ?? '').replace(/:443$/, '');
    if (host === AUTH_HOST) {
      if (state.keycloakDown) unavailable(res);
      else forward(req, res, backends.keycloak);
    } else if (host === SHOP_HOST) {
      if ((req.url ?? '').startsWith('/api/')) {
        if (state.apiDown) unavailable(res);
        else forward(req, res, backends.api);
      } else forward(req, res, backends.web);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('unknown host');
    }
  });
  const tlsPort = await listen(tls);
  const sockets = new Set<Socket>();
  const proxy = createHttpServer((_req, res) => {
    res.writeHead(403, { 'content-type': 'text/plain' }).end('only https (CONNECT) is proxied');
  });
  proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const [host, port] = (req.url ?? '').split(':');
    if ((host !== SHOP_HOST && host !== AUTH_HOST) || port !== '443') {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = connect(tlsPort, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  const proxyPort = await listen(proxy);
  return {
    proxyUrl: `http://127.0.0.1:${String(proxyPort)}`,
    get keycloakDown() {
      return state.keycloakDown;
    },
    set keycloakDown(down: boolean) {
      state.keycloakDown = down;
    },
    get apiDown() {
      return state.apiDown;
    },
    set apiDown(down: boolean) {
      state.apiDown = down;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      tls.closeAllConnections();
      proxy.closeAllConnections();
      await Promise.all(
        [tls, proxy].map(
          (s) =>
            new Promise<void>((resolveClose) => {
              s.close(() => {
                resolveClose();
              });
            }),
        ),
      );
    },
  };
}
