/**
 * `meshward verify-dataplane`: what `decide` says against what a real Envoy, configured by
 * istiod's own code from the same manifests, does with the same requests.
 *
 * Exit 0: every request agrees; 1: disagreements (each printed with both answers); 2: bad
 * arguments, missing tools, or a data plane that did not come up.
 */
import { parseArgs } from 'node:util';
import { formatDisagreement, verifyDataplane } from './run.js';

export const VERIFY_USAGE = `usage: meshward verify-dataplane --manifests <file|dir>... [--mesh-config FILE]
                                [--seed N] [--size N] [--requests FILE] [--work DIR] [--json] [--keep]
Runs istiod's config generator (Istio's own code, in-process) on the manifests, serves it to
upstream Envoy — one per proxy, in network namespaces with istio-iptables' capture — and sends
every access-matrix cell plus generated variations (path forms, methods, hosts, tokens, peers,
ports, when keys, SNI, source addresses) both to those Envoys and to decide, then compares.
  --mesh-config  IstioOperator or MeshConfig (default: scripts/istio/mesh.yaml, the installed mesh)
  --seed N       the corpus's seed (default: random; always printed)
  --size N       at least N requests (default 3000; the matrix cells are always in)
  --requests F   extra requests, one JSON object per line (the corpus's Case shape, no id)
  --work DIR     keep the generated config, certificates and logs there (default: a temp folder)
  --keep         leave the namespaces and Envoys up after the requests until Ctrl-C
Needs root and the provisioned tools (scripts/integration/provision.sh dataplane envoy).
Exit 0 = all agree, 1 = disagreements, 2 = error.`;

function positive(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag} '${value}' must be an integer ≥ 0`);
  return n;
}

export async function verifyMain(argv: readonly string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: {
        manifests: { type: 'string', multiple: true },
        'mesh-config': { type: 'string' },
        seed: { type: 'string' },
        size: { type: 'string' },
        requests: { type: 'string' },
        work: { type: 'string' },
        json: { type: 'boolean' },
        keep: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      // `--manifests a b` as the other commands take it: the extra paths are positionals
      allowPositionals: true,
    }));
  } catch (e) {
    process.stderr.write(`meshward verify-dataplane: ${(e as Error).message}\n${VERIFY_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${VERIFY_USAGE}\n`);
    return 0;
  }
  try {
    const manifests = [...(values.manifests ?? []), ...positionals];
    if (manifests.length === 0) throw new Error('--manifests <file|dir> is required');
    const seed = positive('seed', values.seed, Math.floor(Math.random() * 2 ** 31));
    const size = positive('size', values.size, 3000);
    const log = (line: string) => process.stderr.write(`[verify-dataplane] ${line}\n`);
    log(`seed ${String(seed)} (rerun the same corpus with --seed ${String(seed)})`);
    const report = await verifyDataplane({
      manifests,
      ...(values['mesh-config'] ? { meshConfig: values['mesh-config'] } : {}),
      seed,
      size,
      ...(values.requests ? { requests: values.requests } : {}),
      ...(values.work ? { work: values.work } : {}),
      keep: values.keep === true,
      progress: log,
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      for (const d of report.disagreements) process.stdout.write(`${formatDisagreement(d)}\n`);
      const families = Object.entries(report.byFamily)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(', ');
      process.stdout.write(
        `${String(report.compared)} requests compared (${families}) on ${String(report.proxies)} Envoys configured by ${report.istio}; ` +
          `${String(report.disagreements.length)} disagree; update_rejected ${String(report.rejected)}; ` +
          `seed ${String(report.seed)}; setup ${report.seconds.setup.toFixed(1)} s, requests ${report.seconds.requests.toFixed(1)} s, total ${report.seconds.total.toFixed(1)} s\n`,
      );
    }
    return report.disagreements.length > 0 || report.rejected > 0 ? 1 : 0;
  } catch (e) {
    process.stderr.write(`meshward verify-dataplane: ${(e as Error).message}\n`);
    return 2;
  }
}
