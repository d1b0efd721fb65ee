/**
 * What the page tells the user when something fails. Pure functions of the error, so jest
 * pins every message; oidc-client-ts errors are recognised by their `name` and `error`
 * fields (ErrorResponse, ErrorTimeout) rather than by class, which keeps this module free
 * of browser-only imports.
 */
import { ApiError, SessionExpiredError } from './api-client.js';

interface OAuthErrorLike {
  readonly name: string;
  readonly error?: unknown;
  readonly error_description?: unknown;
  readonly message: string;
}

function asError(err: unknown): OAuthErrorLike | undefined {
  return err instanceof Error ? err : undefined;
}

/** The login server answered nothing usable: down, timed out, or a gateway error page. */
export function isUnreachable(err: unknown): boolean {
  const e = asError(err);
  if (e === undefined) return false;
  if (e.name === 'TypeError' || e.name === 'ErrorTimeout' || e.name === 'AbortError') return true;
  return (
    /Invalid response Content-Type/.test(e.message) ||
    /\(5\d\d\)/.test(e.message) ||
    /network/i.test(e.message)
  );
}

/** A message for a failed login start or callback. */
export function describeLoginError(err: unknown): string {
  const e = asError(err);
  if (e?.name === 'ErrorResponse') {
    const description = typeof e.error_description === 'string' ? e.error_description : '';
    if (e.error === 'access_denied') {
      return 'Login was cancelled. You are not logged in.';
    }
    if (e.error === 'invalid_grant' && /pkce|code.?verifier/i.test(description)) {
      return 'The login could not be completed: the login server refused the code verifier (PKCE mismatch). Please log in again.';
    }
    if (e.error === 'invalid_grant') {
      return 'The login could not be completed: the authorization code was refused (expired or already used). Please log in again.';
    }
    return `The login server refused the login (${String(e.error)}${description ? `: ${description}` : ''}). Please log in again.`;
  }
  if (e && /No matching state found|No state in response/.test(e.message)) {
    return 'The login response does not belong to a login started in this browser tab (state mismatch); it was ignored. Please log in again.';
  }
  if (isUnreachable(err)) {
    return 'The login server cannot be reached right now. Please try again later.';
  }
  return 'The login failed unexpectedly. Please log in again.';
}

/** A message for a session that ended while in use (refused or failed token refresh). */
export function describeSessionEnd(err: unknown): string {
  if (isUnreachable(err)) {
    return 'Your session could not be renewed because the login server cannot be reached. Please log in again.';
  }
  return 'Your session has ended. Please log in again.';
}

/** A message for a failed API call. */
export function describeApiError(err: unknown): string {
  if (err instanceof SessionExpiredError) return err.message;
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  const ref = err.requestId ? ` (request ${err.requestId})` : '';
  if (err.status === 0) {
    return 'The shop cannot be reached. Check your connection and try again.';
  }
  if (err.status === 401) return `The shop did not accept your login${ref}. Please log in again.`;
  if (err.status === 403) return `You are not allowed to do that${ref}.`;
  if (err.status === 404) return `Not found${ref}.`;
  if (err.status === 413) return 'The request is too large.';
  if (err.status === 429) return 'Too many requests. Please wait a moment and try again.';
  if (err.status >= 500) {
    return `The shop is unavailable right now (HTTP ${err.status})${ref}. Please try again later.`;
  }
  return `The shop refused the request: ${err.message}${ref}.`;
}
