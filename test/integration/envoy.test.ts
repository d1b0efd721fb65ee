/** Envoy from the PyPI wheel starts and serves a minimal config on loopback. */
import { startEnvoy, type Envoy } from './components/envoy.js';
import { freePort } from './components/process.js';

let envoy: Envoy;
let listenerUrl: string;

beforeAll(async () => {
  const port = await freePort();
  listenerUrl = `http://127.0.0.1:${String(port)}`;
  envoy = await startEnvoy(
    'smoke',
    [
      'static_resources:',
      '  listeners:',
      '  - name: smoke',
      `    address: { socket_address: { address: 127.0.0.1, port_value: ${String(port)} } }`,
      '    filter_chains:',
      '    - filters:',
      '      - name: envoy.filters.network.http_connection_manager',
      '        typed_config:',
      "          '@type': type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      '          stat_prefix: smoke',
      '          http_filters:',
      '          - name: envoy.filters.http.router',
      '            typed_config:',
      "              '@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
      '          route_config:',
      '            virtual_hosts:',
      '            - name: smoke',
      "              domains: ['*']",
      '              routes:',
      "              - match: { path: '/hello' }",
      "                direct_response: { status: 200, body: { inline_string: 'meshward' } }",
      '',
    ].join('\n'),
  );
}, 120_000);

afterAll(async () => {
  await envoy.stop();
});

describe('Envoy', () => {
  test('GIVEN a direct-response route WHEN it is requested THEN Envoy answers 200 with the body', async () => {
    const response = await fetch(`${listenerUrl}/hello`);

    expect(response.status).toBe(200);
    expect(await response.text()).toBe('meshward');
  });

  test('rejects a path no route matches with 404', async () => {
    const response = await fetch(`${listenerUrl}/other`);

    expect(response.status).toBe(404);
  });

  test('GIVEN the admin interface WHEN server_info is read THEN it reports the pinned version', async () => {
    const info = (await (await fetch(`${envoy.adminUrl}/server_info`)).json()) as {
      version: string;
    };

    expect(info.version).toContain('1.40.0');
  });
});
