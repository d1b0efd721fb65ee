/**
 * An error that maps to an HTTP response. Only `status`, `code` and `message` ever reach
 * the client; stacks and causes stay in the logs.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpError';
  }
}

/** Raised at start-up when the environment is incomplete or malformed. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
