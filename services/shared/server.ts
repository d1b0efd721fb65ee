import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Express } from 'express';
import { ConfigError } from './errors.js';
import type { LogFields, Logger, LogLevel } from './logger.js';
import { createLogger, errorFields } from './logger.js';
import type { Lifecycle } from './web.js';

export interface StartOptions {
  readonly app: Express;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** @default '0.0.0.0' */
  readonly host?: string;
  /** In-flight requests still open after this are cut. @default 20000 */
  readonly shutdownTimeoutMs?: number;
  /** Largest request header block. @default 16384 */
  readonly maxHeaderSize?: number;
}

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish, resolves when all are done. */
  shutdown(): Promise<void>;
}

const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'request_header_fields_too_large'],
  HPE_URI_TOO_LONG: [414, 'uri_too_long'],
};

/** Starts the HTTP server and resolves once it is listening. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { app, logger, lifecycle } = options;
  const server = createServer(
    { maxHeaderSize: options.maxHeaderSize ?? 16384, requestTimeout: 30000, headersTimeout: 10000 },
    app,
  );
  // Errors Node's parser raises before Express sees the request still get a JSON body.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return;
    const [status, code] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'bad_request'];
    const body = JSON.stringify({ error: { code, message: 'malformed or oversized request' } });
    socket.end(
      `HTTP/1.1 ${status} ${code}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  lifecycle.ready = true;
  logger.info('listening', { port });

  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      lifecycle.shuttingDown = true;
      lifecycle.ready = false;
      logger.info('shutting down');
      const timer = setTimeout(() => {
        logger.warn('shutdown timeout, closing remaining connections');
        server.closeAllConnections();
      }, options.shutdownTimeoutMs ?? 20000);
      timer.unref();
      server.close((err) => {
        clearTimeout(timer);
        if (err) logger.error('close failed', errorFields(err));
        logger.info('stopped');
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  return { server, port, shutdown };
}

/** SIGTERM/SIGINT → graceful shutdown → exit 0 (exit 1 if shutdown itself throws). */
export function exitOnSignals(running: RunningServer, logger: Logger): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info('signal received', { signal });
    running.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', errorFields(err));
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

/** The one stderr line a service writes when it cannot start (before its logger exists). */
export function startupFailureLine(service: string, err: unknown): string {
  const msg = err instanceof ConfigError ? `configuration error: ${err.message}` : String(err);
  return JSON.stringify({ level: 'error', service, msg }) + '\n';
}

/** What an HTTP service's entry point (`server.ts`) gives `runHttpService`. */
export interface HttpServiceMain<C extends { readonly port: number; readonly logLevel: LogLevel }> {
  /** The service name in every log line. */
  readonly name: string;
  /** Reads the environment; a ConfigError stops the process with a clear message. */
  loadConfig(): C;
  createApp(options: { config: C; logger: Logger; lifecycle: Lifecycle }): Express;
  /** Extra fields of the `started` log line. */
  startedFields?(config: C): LogFields;
}

/**
 * The entry point every shop HTTP service shares: load the config, start the server,
 * log `started`, shut down gracefully on SIGTERM/SIGINT; any start-up failure is one
 * JSON line on stderr and exit code 1.
 */
export function runHttpService<C extends { readonly port: number; readonly logLevel: LogLevel }>(
  main: HttpServiceMain<C>,
): void {
  const run = async (): Promise<void> => {
    const config = main.loadConfig();
    const logger = createLogger(main.name, config.logLevel);
    const lifecycle: Lifecycle = { ready: false, shuttingDown: false };
    const app = main.createApp({ config, logger, lifecycle });
    const running = await startServer({ app, logger, lifecycle, port: config.port });
    // Handlers first: whoever reads `started` may signal at once.
    exitOnSignals(running, logger);
    logger.info('started', main.startedFields?.(config) ?? {});
  };
  run().catch((err: unknown) => {
    process.stderr.write(startupFailureLine(main.name, err));
    process.exit(1);
  });
}
