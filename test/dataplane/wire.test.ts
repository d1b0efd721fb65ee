import { send, runBackend } from '../../policies/dataplane/wire.js';
import { freePort } from '../support/net.js';

describe('the wire client and backend', () => {
  it('GIVEN the backend WHEN a raw request line is sent THEN the answer names the backend and arrives before the connection closes', async () => {
    const port = await freePort();
    const servers = runBackend('api-0', [port], '127.0.0.1');
    await new Promise((r) => setTimeout(r, 50));
    try {
      const o = await send({
        id: 3,
        host: '127.0.0.1',
        port,
        localAddress: '127.0.0.1',
        head: 'FOO /a%2Fb/é?x=1 HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n',
      });
      expect(o).toMatchObject({ id: 3, status: 200, backend: 'api-0', upstream: false });
      expect(o.body).toContain('FOO /a%2Fb/é?x=1 HTTP/1.1');
    } finally {
      for (const s of servers) s.close();
    }
  });

  it('GIVEN nothing listening THEN status 0 with the error', async () => {
    const port = await freePort();
    const o = await send({
      id: 4,
      host: '127.0.0.1',
      port,
      localAddress: '127.0.0.1',
      head: 'GET / HTTP/1.1\r\n\r\n',
    });
    expect(o).toMatchObject({ id: 4, status: 0 });
    expect(o.error).toContain('ECONNREFUSED');
  });
});
