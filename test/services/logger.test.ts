import { createLogger, errorFields } from '../../services/shared/logger.js';

describe('structured logger', () => {
  test('writes one JSON object per line at or above the level', () => {
    // GIVEN a logger at warn capturing its output
    const lines: string[] = [];
    const logger = createLogger('order-service', 'warn', (line) => lines.push(line));
    // WHEN logging at several levels
    logger.info('hidden');
    logger.warn('shown', { requestId: 'r1' });
    // THEN only warn is written, as JSON with service and fields
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      level: 'warn',
      service: 'order-service',
      msg: 'shown',
      requestId: 'r1',
    });
  });

  test('error fields carry the cause of a wrapped error', () => {
    const err = new Error('token endpoint failed', { cause: new TypeError('fetch failed') });
    expect(errorFields(err)).toMatchObject({
      err: { message: 'token endpoint failed', cause: 'TypeError: fetch failed' },
    });
  });
});
