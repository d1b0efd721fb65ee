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

  test('writes the same line as serializing time, level, service, msg and the fields', () => {
    const lines: string[] = [];
    const logger = createLogger('svc "x"', 'debug', (line) => lines.push(line));
    logger.info('request', {
      requestId: 'r1',
      status: 200,
      nested: { a: [1, 'b'] },
      gone: undefined,
    });
    logger.debug('no fields');
    logger.warn('empty', {});
    // A field named like a fixed key wins, as with an object spread
    logger.error('override', { msg: 'from field', level: 'custom' });
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(parsed[0] ?? {})).toEqual([
      'time',
      'level',
      'service',
      'msg',
      'requestId',
      'status',
      'nested',
    ]);
    expect(parsed[0]).toMatchObject({
      level: 'info',
      service: 'svc "x"',
      msg: 'request',
      nested: { a: [1, 'b'] },
    });
    expect(new Date(String(parsed[0]?.time)).toISOString()).toBe(parsed[0]?.time);
    expect(parsed[1]).toEqual({
      time: expect.any(String),
      level: 'debug',
      service: 'svc "x"',
      msg: 'no fields',
    });
    expect(parsed[2]).toEqual({
      time: expect.any(String),
      level: 'warn',
      service: 'svc "x"',
      msg: 'empty',
    });
    expect(parsed[3]).toMatchObject({ level: 'custom', msg: 'from field' });
    expect(lines[3]?.match(/"msg"/g)).toHaveLength(1);
  });

  test('reports which levels are enabled', () => {
    const logger = createLogger('svc', 'warn', () => undefined);
    expect(logger.isEnabled('info')).toBe(false);
    expect(logger.isEnabled('warn')).toBe(true);
    expect(createLogger('svc', 'silent', () => undefined).isEnabled('error')).toBe(false);
  });

  test('error fields carry the cause of a wrapped error', () => {
    const err = new Error('token endpoint failed', { cause: new TypeError('fetch failed') });
    expect(errorFields(err)).toMatchObject({
      err: { message: 'token endpoint failed', cause: 'TypeError: fetch failed' },
    });
  });
});
