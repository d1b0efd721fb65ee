import { parse } from 'yaml';

import { cidrsOverlap, parseCidr } from '../../charts/lib/gateway-cidr.js';
import {
  bufferFilterConfig,
  localRateLimitConfig,
  rateLimitConfig,
  rateLimitServiceConfig,
  virtualHostRateLimits,
} from '../../charts/lib/index.js';

describe('Envoy filter configs', () => {
  test('the buffer filter defaults to 1 MiB', () => {
    expect(bufferFilterConfig()).toEqual({
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer',
      max_request_bytes: 1048576,
    });
  });

  test('the local token bucket defaults to 10/s with a bucket of 20 per client address, the pod 50× that, enforced on 100%', () => {
    const config = localRateLimitConfig();
    expect(config.descriptors).toEqual([
      {
        entries: [{ key: 'remote_address' }],
        token_bucket: { max_tokens: 20, tokens_per_fill: 10, fill_interval: '1s' },
      },
    ]);
    expect(config.rate_limits).toEqual([{ actions: [{ remote_address: {} }] }]);
    expect(config.token_bucket).toEqual({
      max_tokens: 1000,
      tokens_per_fill: 500,
      fill_interval: '1s',
    });
    expect(config.always_consume_default_token_bucket).toBe(true);
    expect(config.max_dynamic_descriptors).toBe(10000);
    expect(config.filter_enabled.default_value).toEqual({ numerator: 100, denominator: 'HUNDRED' });
    expect(config.filter_enforced.default_value).toEqual({
      numerator: 100,
      denominator: 'HUNDRED',
    });
    expect(config.response_headers_to_add[0]?.header.key).toBe('x-local-rate-limit');
  });

  test.each([
    [
      { gatewayRequestsPerSecond: 5 },
      "local rate limit: 'localRateLimit.gatewayRequestsPerSecond' (5) must be an integer >= 'requestsPerSecond' (10)",
    ],
    [{ trackedClients: 0 }, "'localRateLimit.trackedClients' (0) must be an integer >= 1"],
  ])('refuses %j naming the field', (options, message) => {
    expect(() => localRateLimitConfig(options)).toThrow(message);
  });

  test('the global filter fails open unless asked and talks V3 gRPC to the cluster', () => {
    const config = rateLimitConfig({
      domain: 'd',
      clusterName: 'outbound|8081||rl.ns.svc.cluster.local',
    });
    expect(config.failure_mode_deny).toBe(false);
    expect(config.rate_limit_service).toEqual({
      grpc_service: { envoy_grpc: { cluster_name: 'outbound|8081||rl.ns.svc.cluster.local' } },
      transport_api_version: 'V3',
    });
    expect(
      rateLimitConfig({ domain: 'd', clusterName: 'c', failureModeDeny: true }).failure_mode_deny,
    ).toBe(true);
  });

  test('virtual host actions produce the descriptors the service config keys on', () => {
    const service = rateLimitServiceConfig({
      perClient: { requestsPerUnit: 10 },
      perPath: { requestsPerUnit: 100, unit: 'minute' },
    });
    const actions = virtualHostRateLimits({ byClient: true, byPath: true });
    expect(actions).toEqual([
      { actions: [{ remote_address: {} }] },
      { actions: [{ request_headers: { header_name: ':path', descriptor_key: 'PATH' } }] },
    ]);
    expect(service.descriptors.map((d) => d.key)).toEqual(['remote_address', 'PATH']);
    expect(service.descriptors[1]?.rate_limit).toEqual({ unit: 'minute', requests_per_unit: 100 });
  });

  test('rejects a rate-limit domain that is empty', () => {
    expect(() => rateLimitConfig({ domain: ' ', clusterName: 'c' })).toThrow(/'domain' \(' '\)/);
  });

  test('rejects a non-integer body limit', () => {
    expect(() => bufferFilterConfig(1.5)).toThrow(/'maxRequestBytes' \(1.5\)/);
  });

  test('the service config renders to the YAML the ratelimit service reads', () => {
    const config = rateLimitServiceConfig({ domain: 'shop', perClient: { requestsPerUnit: 10 } });
    expect(parse(JSON.stringify(config))).toEqual({
      domain: 'shop',
      descriptors: [
        { key: 'remote_address', rate_limit: { unit: 'second', requests_per_unit: 10 } },
      ],
    });
  });
});

describe('CIDRs', () => {
  test('parses IPv4, IPv6 and single addresses', () => {
    expect(parseCidr('t', '10.0.0.0/8')).toMatchObject({ family: 4, prefix: 8 });
    expect(parseCidr('t', '2001:db8::/32')).toMatchObject({ family: 6, prefix: 32 });
    expect(parseCidr('t', '192.168.1.7')).toMatchObject({ family: 4, prefix: 32 });
    expect(parseCidr('t', '::1')).toMatchObject({ family: 6, prefix: 128 });
  });

  test('overlap is containment within a family, never across families', () => {
    const c = (s: string) => parseCidr('t', s);
    expect(cidrsOverlap(c('10.0.0.0/8'), c('10.255.0.0/16'))).toBe(true);
    expect(cidrsOverlap(c('10.0.0.0/8'), c('11.0.0.0/8'))).toBe(false);
    expect(cidrsOverlap(c('0.0.0.0/0'), c('::/0'))).toBe(false);
  });

  test.each(['10.0.0/8', '10.0.0.0/x', '1::2::3', 'fe80::/129', '10.0.0.0/8/8', '010.0.0.0/8'])(
    'rejects %s',
    (bad) => {
      expect(() => parseCidr('ApiGateway', bad)).toThrow(`ApiGateway: CIDR '${bad}'`);
    },
  );
});
