export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/**
 * Structured logs: one JSON object per line on stdout (what Kubernetes log collectors
 * expect). `sink` is injectable so tests can capture or silence output.
 */
export function createLogger(
  service: string,
  level: LogLevel = 'info',
  sink: (line: string) => void = (line) => process.stdout.write(line + '\n'),
): Logger {
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < RANK[level]) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level: lvl, service, msg, ...fields }));
  };
  return {
    debug: (msg, fields) => {
      emit('debug', msg, fields);
    },
    info: (msg, fields) => {
      emit('info', msg, fields);
    },
    warn: (msg, fields) => {
      emit('warn', msg, fields);
    },
    error: (msg, fields) => {
      emit('error', msg, fields);
    },
  };
}

/** Serializes an error for a log line (the stack belongs in logs, never in responses). */
export function errorFields(err: unknown): LogFields {
  if (!(err instanceof Error)) return { err: String(err) };
  const cause = err.cause instanceof Error ? `${err.cause.name}: ${err.cause.message}` : undefined;
  return {
    err: { name: err.name, message: err.message, stack: err.stack, ...(cause ? { cause } : {}) },
  };
}
