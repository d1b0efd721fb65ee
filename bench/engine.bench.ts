/**
 * Engine: decisions per second, single-threaded, on the shop's manifests (dist/, else
 * the engine's test fixture) for a mixed request stream — every workload, gateway /
 * service / plaintext callers, no / valid / wrong-role / invalid / foreign tokens,
 * dot-segment and encoded paths, TCP. Bounded: 3 timed rounds of ~1 s each; the best
 * round is the figure (the median is shown too).
 * Run alone: `npx tsx bench/engine.bench.ts` (exit 1 under target).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { compile, decide, loadManifests, type MeshRequest } from '../policies/engine/index.js';
import { workloadsOf } from '../policies/engine/workloads.js';

import { median, type Row } from './table.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const TARGET_PER_SECOND = 500_000;

function requestStream(paths: string[]): MeshRequest[] {
  const manifests = loadManifests(paths);
  const ra = manifests.objects.find((o) => o.kind === 'RequestAuthentication');
  const rules = ra?.spec?.jwtRules as { issuer?: string; audiences?: string[] }[] | undefined;
  const iss = rules?.[0]?.issuer ?? 'https://issuer';
  const aud = rules?.[0]?.audiences?.[0] ?? 'api';
  const workloads = workloadsOf(manifests);
  const sources = [
    {
      mtls: true,
      principal: 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
      ip: '10.0.0.1',
    },
    ...workloads.map((w) => ({
      mtls: true,
      principal: `cluster.local/ns/${w.namespace}/sa/${w.serviceAccount}`,
      ip: '10.0.0.2',
    })),
    { mtls: false, ip: '10.0.0.3' },
  ];
  const tokens = [
    [],
    [{ claims: { iss, aud, sub: 'u', realm_access: { roles: ['USER'] }, scope: 'openid' } }],
    [
      {
        claims: {
          iss,
          aud,
          sub: 'a',
          realm_access: { roles: ['ADMIN'] },
          scope: 'openid admin:read',
        },
      },
    ],
    [{ claims: { iss, aud, sub: 'u' }, valid: false }],
    [{ claims: { iss: 'https://evil', aud, sub: 'u' } }],
    [{ claims: { iss, aud: 'other', sub: 'u', azp: 'payment-reconciler' } }],
  ];
  const reqPaths = [
    '/api/orders',
    '/api/orders/o-1',
    '/api/public/x',
    '/api/admin/x',
    '/api/payments',
    '/api/orders/../admin/x',
    '/api/%2e%2e/orders',
    '/realms/shop/protocol/openid-connect/certs',
    '/x?y=1',
  ];
  const methods = ['GET', 'POST', 'DELETE'];
  const out: MeshRequest[] = [];
  let i = 0;
  for (const w of workloads) {
    for (const source of sources) {
      for (const t of tokens) {
        for (const path of reqPaths) {
          const method = methods[i++ % methods.length] ?? 'GET';
          out.push({
            id: i,
            // a fresh labels object per request, as a parsed request line has
            destination: {
              namespace: w.namespace,
              labels: { ...w.labels },
              port: w.ports[0] ?? 8080,
            },
            source,
            remoteIp: '203.0.113.7',
            protocol: i % 17 === 0 ? 'tcp' : 'http',
            method,
            path,
            host: 'shop.example.com',
            tokens: t,
          });
        }
      }
    }
  }
  return out;
}

export function benchEngine(): Row[] {
  const dist = join(ROOT, 'dist');
  const paths = existsSync(dist) ? [dist] : [join(ROOT, 'test/engine/fixtures/shop.yaml')];
  const stream = requestStream(paths);
  const compiled = compile(loadManifests(paths));
  let sink = 0;
  for (const r of stream) sink += decide(compiled, r).status; // warm-up: plans + JIT
  const rates: number[] = [];
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const start = performance.now();
    while (performance.now() - start < 1000) {
      for (const r of stream) sink += decide(compiled, r).status;
      n += stream.length;
    }
    rates.push(n / ((performance.now() - start) / 1000));
  }
  if (sink < 0) console.log(sink);
  // Best of the rounds: on a shared machine, interference only ever slows a round down.
  const rate = Math.max(...rates);
  return [
    {
      section: 'engine',
      figure: `decide, mixed stream of ${stream.length} (${existsSync(dist) ? 'dist/' : 'fixture'})`,
      value: `${Math.round(rate).toLocaleString('en-US')}/s (median ${Math.round(median(rates)).toLocaleString('en-US')}/s)`,
      baseline: '',
      ratio: rate,
      target: `≥ ${TARGET_PER_SECOND}/s`,
      ok: rate >= TARGET_PER_SECOND,
    },
  ];
}

if (fileURLToPath(import.meta.url) === process.argv.at(1)) {
  for (const row of benchEngine()) {
    console.log(
      `${row.section}: ${row.figure}: ${row.value} (target ${row.target}) ${row.ok ? 'ok' : 'MISSED'}`,
    );
    if (!row.ok) process.exitCode = 1;
  }
}
