import request from 'supertest';
import { createIdentityResolver } from '../../services/shared/identity.js';
import { createLogger } from '../../services/shared/logger.js';
import type { RouteGuard } from '../../services/shared/route-guard.js';
import {
  authenticatedRoutes,
  createServiceApp,
  requestIdOf,
  requireJson,
} from '../../services/shared/web.js';
import { authConfig, createTestIssuer, silentLogger } from './support.js';

/** A service app with one GET and one POST route, logging into `lines`. */
function appWithLog(lines: string[], level: 'info' | 'silent' = 'info') {
  const logger = createLogger('test', level, (line) => lines.push(line));
  return createServiceApp({ logger }, (app) => {
    app.get('/api/things', (_req, res) => {
      res.json({ things: [] });
    });
    app.post('/api/things', (req, res) => {
      res.status(201).json({ got: req.body as unknown });
    });
  });
}

function accessLines(lines: string[]): Record<string, unknown>[] {
  return lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'request');
}

describe('shared web layer', () => {
  test('writes one access log line per request, with the request id it answered', async () => {
    // GIVEN a service app logging at info
    const lines: string[] = [];
    const app = appWithLog(lines);
    // WHEN a request with a client id, one without, and a path trick arrive
    const a = await request(app).get('/api/things?x=1').set('x-request-id', 'req-1').expect(200);
    const b = await request(app).get('/api/things').expect(200);
    const c = await request(app).get('/api//things').expect(400);
    // THEN each got exactly one line with its id, method, path (no query) and status
    const logged = accessLines(lines);
    expect(logged).toHaveLength(3);
    expect(logged[0]).toMatchObject({
      level: 'info',
      service: 'test',
      requestId: 'req-1',
      method: 'GET',
      path: '/api/things',
      status: 200,
      durationMs: expect.any(Number),
    });
    expect(a.headers['x-request-id']).toBe('req-1');
    expect(logged[1]).toMatchObject({ requestId: b.headers['x-request-id'], status: 200 });
    expect(b.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(logged[2]).toMatchObject({ requestId: c.headers['x-request-id'], status: 400 });
    expect(c.body.error.code).toBe('invalid_path');
  });

  test('replaces an invalid incoming request id', async () => {
    const lines: string[] = [];
    const res = await request(appWithLog(lines))
      .get('/api/things')
      .set('x-request-id', 'bad id with spaces')
      .expect(200);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('parses JSON bodies on POST and still refuses invalid or oversized ones', async () => {
    const app = appWithLog([]);
    const ok = await request(app).post('/api/things').send({ a: 1 }).expect(201);
    expect(ok.body).toEqual({ got: { a: 1 } });
    const bad = await request(app)
      .post('/api/things')
      .set('content-type', 'application/json')
      .send('{"a":')
      .expect(400);
    expect(bad.body.error.code).toBe('invalid_json');
    const big = await request(app)
      .post('/api/things')
      .send({ a: 'x'.repeat(17 * 1024) })
      .expect(413);
    expect(big.body.error.code).toBe('payload_too_large');
  });

  test('does not run the body parser on GET', async () => {
    // GIVEN a GET carrying a malformed JSON body WHEN served THEN the route answers normally
    const res = await request(appWithLog([]))
      .get('/api/things')
      .set('content-type', 'application/json')
      .send('{"not json')
      .expect(200);
    expect(res.body).toEqual({ things: [] });
  });

  test('writes no access log line when the level is silent', async () => {
    const lines: string[] = [];
    await request(appWithLog(lines, 'silent')).get('/api/things').expect(200);
    expect(lines).toEqual([]);
  });

  test('health endpoints answer after the service routes, without x-powered-by or ETag', async () => {
    const app = appWithLog([]);
    const res = await request(app).get('/healthz').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers.etag).toBeUndefined();
    await request(app).get('/readyz').expect(200);
    await request(app).get('/HEALTHZ').expect(404);
  });

  describe('authenticatedRoutes', () => {
    /**
     * GET and POST /api/me, answering with the caller the handler was given, behind a guard
     * that refuses the subject `mallory` and records what it was asked.
     */
    async function authedApp() {
      const issuer = await createTestIssuer();
      const resolve = createIdentityResolver(authConfig('verify'), { keySet: issuer.keySet });
      const asked: string[] = [];
      const handled: string[] = [];
      const guard: RouteGuard = {
        allows: (method, path, caller) => {
          asked.push(`${method} ${path} ${caller.subject}`);
          return caller.subject !== 'mallory';
        },
      };
      const app = createServiceApp({ logger: silentLogger }, (a) => {
        const api = authenticatedRoutes(a, resolve, guard);
        api.get('/api/me', (_req, res, caller) => {
          handled.push(caller.subject);
          res.json({ subject: caller.subject, roles: caller.roles, requestId: requestIdOf(res) });
        });
        api.post('/api/me', (req, res, caller) => {
          requireJson(req);
          res.status(201).json({ subject: caller.subject });
        });
      });
      return { app, issuer, asked, handled };
    }

    test('hands the verified caller to the handler, twice with one token (cache hit)', async () => {
      const { app, issuer } = await authedApp();
      const token = await issuer.mint({ sub: 'alice', realm_access: { roles: ['ADMIN'] } });
      for (const id of ['req-a', 'req-b']) {
        const res = await request(app)
          .get('/api/me')
          .set('authorization', `Bearer ${token}`)
          .set('x-request-id', id)
          .expect(200);
        expect(res.body).toEqual({ subject: 'alice', roles: ['ADMIN'], requestId: id });
      }
    });

    test('answers 401 before the handler runs, even where it would answer 415', async () => {
      const { app, issuer } = await authedApp();
      const missing = await request(app).get('/api/me').expect(401);
      expect(missing.body.error).toMatchObject({ code: 'unauthorized' });
      await request(app).post('/api/me').set('content-type', 'text/plain').send('hi').expect(401);
      const token = await issuer.mint();
      const wrongType = await request(app)
        .post('/api/me')
        .set('authorization', `Bearer ${token}`)
        .set('content-type', 'text/plain')
        .send('hi')
        .expect(415);
      expect(wrongType.body.error.code).toBe('unsupported_media_type');
      await request(app)
        .post('/api/me')
        .set('authorization', `Bearer ${token}`)
        .send({ a: 1 })
        .expect(201, { subject: 'user-1' });
    });

    test('rejects a caller the route guard refuses with 403 before the handler runs, cached or not', async () => {
      // GIVEN a token the guard refuses
      const { app, issuer, asked, handled } = await authedApp();
      const token = await issuer.mint({ sub: 'mallory', realm_access: { roles: ['ADMIN'] } });
      // WHEN it is sent twice (verified, then from the cache), with a query string
      for (let i = 0; i < 2; i++) {
        const res = await request(app)
          .get('/api/me?x=1')
          .set('authorization', `Bearer ${token}`)
          .expect(403);
        // THEN a 403 that names neither the route's roles nor the path
        expect(res.body.error).toEqual({
          code: 'forbidden',
          message: 'the caller is not allowed to use this route',
          requestId: expect.any(String) as unknown,
        });
      }
      // AND the guard was asked with the method and the path without its query
      expect(asked).toEqual(['GET /api/me mallory', 'GET /api/me mallory']);
      expect(handled).toEqual([]);
    });

    test('answers 401 for a missing token without asking the route guard', async () => {
      const { app, asked } = await authedApp();
      await request(app).get('/api/me').expect(401);
      expect(asked).toEqual([]);
    });
  });
});
