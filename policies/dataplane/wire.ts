/**
 * The two programs that run inside the harness's network namespaces, over raw sockets so that
 * every byte of a request line is sent as the corpus wrote it:
 *
 * - `client`: reads one wire request per stdin line, sends each on its own connection (mTLS,
 *   TLS with or without SNI, or plaintext, from a chosen source address), and writes one
 *   observation per stdout line;
 * - `backend`: the application behind a proxy, on the given ports: answers any request 200
 *   with `x-meshward-backend: <name>`, so a response proves the request got through.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { connect as tlsConnect } from 'node:tls';
import type { Observation } from './model.js';

export interface WireRequest {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly localAddress: string;
  readonly tls?: {
    readonly ca: string;
    readonly cert?: string;
    readonly key?: string;
    readonly sni?: string;
    readonly alpn: readonly string[];
  };
  /** The request head and body, exactly as sent. */
  readonly head: string;
  /** Wait before sending (ms): the gateway's rate limit is paced, not raced. */
  readonly delay?: number;
  /** Retry a 429 this many times. */
  readonly retries?: number;
}

const TIMEOUT_MS = 5000;
const files = new Map<string, string>();
const file = (path: string) => {
  let text = files.get(path);
  if (text === undefined) files.set(path, (text = readFileSync(path, 'utf8')));
  return text;
};

function once(req: WireRequest): Promise<Observation> {
  const started = Date.now();
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ ...parse(req.id, buffer, error), ms: Date.now() - started });
    };
    const options = { host: req.host, port: req.port, localAddress: req.localAddress };
    const socket: Socket = req.tls
      ? tlsConnect({
          ...options,
          ca: file(req.tls.ca),
          ...(req.tls.cert && req.tls.key
            ? { cert: file(req.tls.cert), key: file(req.tls.key) }
            : {}),
          ...(req.tls.sni === undefined ? {} : { servername: req.tls.sni }),
          ALPNProtocols: [...req.tls.alpn],
          checkServerIdentity: () => undefined,
        })
      : netConnect(options);
    socket.setTimeout(TIMEOUT_MS, () => {
      finish('timeout');
    });
    socket.once(req.tls ? 'secureConnect' : 'connect', () => socket.write(req.head, 'utf8'));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      // Done once the whole response is in: Envoy may hold the connection open a while
      // after answering (its delayed close), which is not part of the answer.
      if (buffer.length > 65536 || complete(buffer, req.head.startsWith('HEAD '))) finish();
    });
    socket.on('end', () => {
      finish();
    });
    socket.on('close', () => {
      finish();
    });
    socket.on('error', (e) => {
      finish(e.message);
    });
  });
}

/** Whether `raw` holds a whole HTTP/1.1 response (by content-length or chunked framing). */
function complete(raw: Buffer, head: boolean): boolean {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const headers = text.slice(0, end);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(headers)?.[1] ?? '0');
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) return true;
  const length = /^content-length:[ \t]*(\d+)/im.exec(headers)?.[1];
  if (length !== undefined) return raw.length >= end + 4 + Number(length);
  if (/^transfer-encoding:[ \t]*chunked/im.test(headers)) return text.endsWith('0\r\n\r\n');
  return false;
}

function parse(id: number, raw: Buffer, error: string | undefined): Observation {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
  if (status === undefined) {
    return { id, status: 0, upstream: false, body: '', error: error ?? 'no HTTP response' };
  }
  const header = (name: string) =>
    new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head)?.[1]?.trim();
  const backend = header('x-meshward-backend');
  return {
    id,
    status: Number(status),
    upstream: header('x-envoy-upstream-service-time') !== undefined,
    body: end < 0 ? '' : raw.subarray(end + 4, end + 4 + 200).toString('utf8'),
    ...(backend === undefined ? {} : { backend }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function send(req: WireRequest): Promise<Observation> {
  if (req.delay) await sleep(req.delay);
  let seen = await once(req);
  for (let i = 0; seen.status === 429 && i < (req.retries ?? 0); i++) {
    await sleep(1200);
    seen = await once(req);
  }
  return seen;
}

/**
 * The client: sequential requests (those with a delay) in order, the others `parallel` at a
 * time; every observation on stdout as soon as it is known.
 */
export async function runClient(parallel: number): Promise<void> {
  const paced: WireRequest[] = [];
  const free: WireRequest[] = [];
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    const req = JSON.parse(line) as WireRequest;
    (req.delay === undefined ? free : paced).push(req);
  }
  const out = (o: Observation) => process.stdout.write(`${JSON.stringify(o)}\n`);
  // Paced requests start on a schedule (one every `delay` ms) and run side by side.
  const pacedRun = Promise.all(
    paced.map(async (req, i) => {
      await sleep(i * (req.delay ?? 0));
      out(await send({ ...req, delay: 0 }));
    }),
  );
  let next = 0;
  const worker = async () => {
    while (next < free.length) {
      const req = free.at(next++);
      if (req) out(await send(req));
    }
  };
  await Promise.all([pacedRun, ...Array.from({ length: parallel }, worker)]);
}

/** The backend: `name` on every port, until killed. */
export function runBackend(name: string, ports: readonly number[], host = '0.0.0.0'): Server[] {
  return ports.map((port) => {
    const server = createServer((socket) => {
      let seen = '';
      socket.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        const end = seen.indexOf('\r\n\r\n');
        if (end < 0) {
          if (seen.length > 1 << 20) socket.destroy();
          return;
        }
        // the request line's bytes as they came (latin1 keeps every byte)
        const line = Buffer.from(seen.slice(0, seen.indexOf('\r\n')), 'latin1');
        const body = Buffer.concat([Buffer.from(`backend ${name} `), line, Buffer.from('\n')]);
        socket.end(
          Buffer.concat([
            Buffer.from(
              `HTTP/1.1 200 OK\r\nx-meshward-backend: ${name}\r\ncontent-type: text/plain\r\ncontent-length: ${String(body.length)}\r\nconnection: close\r\n\r\n`,
            ),
            body,
          ]),
        );
        seen = '';
      });
      socket.on('error', () => socket.destroy());
    });
    server.listen(port, host);
    return server;
  });
}

/** `node wire.js client <parallel>` | `node wire.js backend <name> <port>...` */
export async function wireMain(argv: readonly string[]): Promise<void> {
  const [role, ...rest] = argv;
  if (role === 'client') await runClient(Number(rest[0] ?? '16'));
  else if (role === 'backend') {
    const ports = rest.slice(1).map(Number);
    runBackend(rest[0] ?? 'backend', ports);
    process.stdout.write(`listening ${ports.join(',')}\n`);
  } else throw new Error(`wire: unknown role '${role}' (client, backend)`);
}
