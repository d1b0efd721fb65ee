/**
 * A generated system of N services with full security, for benchmarks: every service
 * has its identity, hardened Deployment, Service, PDB, NetworkPolicy and an
 * AuthorizationPolicy with token, role and caller rules; every third one is exposed
 * through the gateway, the others are called by their predecessor (by their `calls`
 * predecessors with `calls` > 1, so each service calls a few others).
 */
import type { EgressOptions, SystemIntent } from '../charts/lib/index.js';

export function generatedSystem(
  services: number,
  options: { readonly calls?: number; readonly egress?: EgressOptions } = {},
): SystemIntent {
  const name = (i: number) => `svc-${String(i).padStart(4, '0')}`;
  const calls = options.calls ?? 1;
  const callers = (i: number) =>
    i % 3 === 0
      ? []
      : Array.from({ length: calls }, (_, k) => i - 1 - k)
          .filter((j) => j >= 0)
          .map(name);
  return {
    namespace: 'bench',
    issuer: {
      issuer: 'https://auth.bench.example.com/realms/bench',
      jwksUri:
        'http://keycloak.auth.svc.cluster.local:8080/realms/bench/protocol/openid-connect/certs',
      audiences: ['bench-api'],
    },
    services: Array.from({ length: services }, (_, i) => ({
      name: name(i),
      image: `bench/${name(i)}:1`,
      exposed: i % 3 === 0,
      ...(options.egress ? { egress: options.egress } : {}),
      routes: [
        ...(i % 3 === 0
          ? [{ methods: ['GET' as const], paths: ['/api/public/*'], public: true }]
          : []),
        {
          methods: ['GET' as const, 'POST' as const],
          paths: [`/api/${name(i)}`],
          roles: ['USER'],
          callers: callers(i),
        },
        {
          methods: ['GET' as const, 'DELETE' as const],
          paths: [`/api/${name(i)}/{id}`],
          roles: ['USER', 'ADMIN'],
          callers: callers(i),
        },
        {
          paths: [`/api/${name(i)}/admin/*`],
          scopes: ['admin:read'],
          callers: callers(i),
        },
      ],
    })),
  };
}
