import { ApiError, SessionExpiredError } from '../../services/shop-web/src/api-client.js';
import {
  describeApiError,
  describeLoginError,
  describeSessionEnd,
} from '../../services/shop-web/src/messages.js';

/** An error shaped like oidc-client-ts's ErrorResponse. */
function errorResponse(error: string, description?: string): Error {
  return Object.assign(new Error(description ?? error), {
    name: 'ErrorResponse',
    error,
    error_description: description ?? null,
  });
}

describe('describeLoginError', () => {
  test.each([
    [errorResponse('access_denied'), /Login was cancelled/],
    [
      errorResponse('invalid_grant', 'PKCE verification failed: Invalid code verifier'),
      /PKCE mismatch/,
    ],
    [errorResponse('invalid_grant', 'Code not valid'), /authorization code was refused/],
    [
      errorResponse('temporarily_unavailable', 'try later'),
      /refused the login \(temporarily_unavailable: try later\)/,
    ],
    [new Error('No matching state found in storage'), /state mismatch/],
    [new Error('No state in response'), /state mismatch/],
    [new TypeError('Failed to fetch'), /login server cannot be reached/],
    [Object.assign(new Error('Network timed out'), { name: 'ErrorTimeout' }), /cannot be reached/],
    [new Error('Invalid response Content-Type: text/plain, from URL: x'), /cannot be reached/],
    [new Error('Service Unavailable (503)'), /cannot be reached/],
    ['weird', /failed unexpectedly/],
  ])('maps %p', (err, message) => {
    expect(describeLoginError(err)).toMatch(message);
  });
});

describe('describeSessionEnd', () => {
  test('tells a refused refresh from an unreachable login server', () => {
    expect(describeSessionEnd(errorResponse('invalid_grant', 'Session not active'))).toBe(
      'Your session has ended. Please log in again.',
    );
    expect(describeSessionEnd(new TypeError('Failed to fetch'))).toMatch(/cannot be reached/);
  });
});

describe('describeApiError', () => {
  test.each([
    [new ApiError(0, 'network', 'Failed to fetch'), /shop cannot be reached/],
    [new ApiError(403, 'http_error', 'HTTP 403', 'r-9'), /not allowed to do that \(request r-9\)/],
    [new ApiError(429, 'http_error', 'HTTP 429'), /Too many requests/],
    [new ApiError(503, 'http_error', 'HTTP 503'), /unavailable right now \(HTTP 503\)/],
    [new ApiError(400, 'invalid_request', 'bad sku'), /refused the request: bad sku/],
    [new SessionExpiredError('Your session has ended. Please log in again.'), /session has ended/],
    [new Error('x'), /Something went wrong/],
  ])('maps %p', (err, message) => {
    expect(describeApiError(err)).toMatch(message);
  });
});
