export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Whether a line at `level` would be written (lets callers skip building fields). */
  isEnabled(level: Exclude<LogLevel, 'silent'>): boolean;
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
  const serviceJson = JSON.stringify(service);
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < RANK[level]) return;
    const time = new Date().toISOString();
    if (
      fields !== undefined &&
      ('time' in fields || 'level' in fields || 'service' in fields || 'msg' in fields)
    ) {
      sink(JSON.stringify({ time, level: lvl, service, msg, ...fields }));
      return;
    }
    // The same line as JSON.stringify({ time, level, service, msg, ...fields }), without
    // copying the fields into a new object or re-serializing the constant parts.
    const head = `{"time":"${time}","level":"${lvl}","service":${serviceJson},"msg":${JSON.stringify(msg)}`;
    const rest = fields === undefined ? '{}' : JSON.stringify(fields);
    sink(rest === '{}' ? head + '}' : head + ',' + rest.slice(1));
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
    isEnabled: (lvl) => RANK[lvl] >= RANK[level],
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
