/**
 * What egress least privilege saves each proxy: the LDS+CDS+RDS+EDS bytes (protobuf, as istiod
 * sends them) istiod's own generator (`meshward-xds dump`, provisioned) builds for sample proxies
 * of the generated mesh, with meshward's Sidecars (the default) against the same mesh with
 * `egress: { scoped: false }`, side by side in one run; and the same proxies' scoped config at 50
 * services against 200, which must not grow with the mesh.
 * Run alone: `npx tsx bench/config.bench.ts` (exit 1 over target).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { App } from 'cdk8s';

import { type EgressOptions, MeshSystem } from '../charts/lib/index.js';
import { dataplaneTools } from '../policies/dataplane/run.js';

import { generatedSystem } from './generated-system.js';
import { runAlone, type Row } from './table.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MESH = join(ROOT, 'scripts/istio/mesh.yaml');
export const SERVICES = 200;
export const SMALL = 50;
/** Each non-exposed service is called by its 3 predecessors: 0–3 callees per proxy. */
export const CALLS = 3;
/** Scoped bytes / unscoped bytes at 200 services. */
export const TARGET_SAVED = 0.1;
/** Scoped bytes at 200 services / at 50: the config follows the callees, not the mesh. */
export const TARGET_GROWTH = 1.1;
/** Proxies measured: an exposed service (calls 3), one in the middle of a chain, one at its end. */
const SAMPLES = ['svc-0030', 'svc-0031', 'svc-0032'];

type Sizes = Partial<Record<string, Partial<Record<string, { bytes: number; resources: number }>>>>;

function synth(services: number, egress: EgressOptions | undefined, dir: string): string {
  const app = new App({ outdir: dir, outputFileExtension: '.yaml' });
  new MeshSystem(app, 'bench', {
    intent: generatedSystem(services, { calls: CALLS, egress }),
    disableResourceNameHashes: true,
  });
  const file = join(dir, `mesh-${String(services)}-${egress ? 'open' : 'scoped'}.yaml`);
  writeFileSync(file, app.synthYaml());
  return file;
}

function dump(xds: string, manifests: string, out: string): Sizes {
  const r = spawnSync(
    xds,
    [
      'dump',
      '--manifests',
      manifests,
      '--mesh',
      MESH,
      '--out',
      out,
      '--proxies',
      SAMPLES.map((s) => `bench.${s}-0`).join(','),
    ],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        PILOT_ENABLE_METADATA_EXCHANGE: 'false',
        PILOT_ENABLE_ALPN_FILTER: 'false',
      },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 600_000,
    },
  );
  if (r.status !== 0) {
    throw new Error(
      `meshward-xds dump ${manifests}: exit ${String(r.status)}: ${r.stderr.slice(-600)}`,
    );
  }
  return JSON.parse(readFileSync(join(out, 'sizes.json'), 'utf8')) as Sizes;
}

const total = (s: NonNullable<Sizes[string]>) =>
  Object.values(s).reduce((n, t) => n + (t?.bytes ?? 0), 0);
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function benchConfig(
  progress = (line: string) => process.stderr.write(`  ${line}\n`),
): Row[] {
  const { xds } = dataplaneTools();
  const work = mkdtempSync(join(tmpdir(), 'meshward-config-bench-'));
  try {
    const run = (services: number, egress: EgressOptions | undefined) => {
      const started = Date.now();
      const sizes = dump(
        xds,
        synth(services, egress, work),
        join(work, `out-${String(services)}-${egress ? 'open' : 'scoped'}`),
      );
      progress(
        `${String(services)} services, ${egress ? 'unscoped' : 'scoped'}: ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
      return sizes;
    };
    const scoped = run(SERVICES, undefined);
    const open = run(SERVICES, { scoped: false });
    const small = run(SMALL, undefined);
    const rows: Row[] = [];
    for (const name of SAMPLES) {
      const key = `bench.${name}-0`;
      const [s, o, m] = [scoped[key], open[key], small[key]];
      if (s === undefined || o === undefined || m === undefined) {
        throw new Error(`meshward-xds dump wrote no sizes for ${key}`);
      }
      const saved = total(s) / total(o);
      const detail = ['LDS', 'CDS', 'RDS', 'EDS']
        .map((t) => `${t} ${kib(s[t]?.bytes ?? 0)}/${kib(o[t]?.bytes ?? 0)}`)
        .join(', ');
      rows.push({
        section: 'config',
        figure: `${name} xDS, Sidecar vs none at ${String(SERVICES)} services (${detail})`,
        value: kib(total(s)),
        baseline: kib(total(o)),
        ratio: saved,
        target: `≤ ${TARGET_SAVED.toFixed(2)}×`,
        ok: saved <= TARGET_SAVED,
      });
      const growth = total(s) / total(m);
      rows.push({
        section: 'config',
        figure: `${name} xDS with its Sidecar, ${String(SERVICES)} vs ${String(SMALL)} services`,
        value: kib(total(s)),
        baseline: kib(total(m)),
        ratio: growth,
        target: `≤ ${TARGET_GROWTH.toFixed(2)}×`,
        ok: growth <= TARGET_GROWTH,
      });
    }
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (fileURLToPath(import.meta.url) === process.argv.at(1)) runAlone(benchConfig());
