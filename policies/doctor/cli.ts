/**
 * `meshward doctor`: checks a live cluster for what would silently break the security model.
 *
 *   meshward doctor [--kubeconfig FILE] [--context NAME] [--dist DIR] [--json] [--skip-jwks]
 *                   [--jwks-timeout MS] [--root-namespace NS]
 *
 * Exit 0: no finding; 1: findings; 2: connection or configuration error (wrong context,
 * API server unreachable, Istio CRDs missing, bad arguments).
 */
import { parseArgs } from 'node:util';
import { KubeReader, type KubeReaderOptions } from './kube-reader.js';
import { type ClusterReader, DoctorConfigError, type Finding } from './model.js';
import { type DoctorReport, runDoctor } from './run-doctor.js';

export const DOCTOR_USAGE = `usage: meshward doctor [--kubeconfig FILE] [--context NAME] [--dist DIR] [--json]
                       [--skip-jwks] [--jwks-timeout MS] [--root-namespace NS]
Checks the live cluster: sidecars in mesh namespaces, STRICT mTLS and default deny per mesh
namespace, drift of Istio objects against dist/, JWKS reachability, workloads no policy selects.
Exit 0 = clean, 1 = findings, 2 = connection or configuration error.`;

export interface DoctorIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** @default - a KubeReader (`@kubernetes/client-node`) */
  readonly createReader?: (options: KubeReaderOptions) => ClusterReader;
}

const defaultIo: DoctorIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** The findings as an aligned text table. */
export function formatTable(report: DoctorReport): string {
  const header =
    `meshward doctor — ${report.target}; mesh namespaces: ${report.meshNamespaces.join(', ') || 'none'}\n` +
    report.jwksFetchedByProxies
      .map(
        (uri) =>
          `JWKS ${uri}: fetched by the proxies over mTLS (PILOT_JWT_ENABLE_REMOTE_JWKS), not probed; meshward lint MW015 checks who may fetch it\n`,
      )
      .join('');
  if (report.findings.length === 0) return `${header}no findings\n`;
  const rows: (readonly string[])[] = [
    ['CHECK', 'NAMESPACE', 'OBJECT', 'MESSAGE'],
    ...report.findings.map((f: Finding) => [f.code, f.namespace, f.object, f.message]),
  ];
  const widths = [0, 1, 2].map((column) =>
    Math.max(...rows.map((row) => row[column]?.length ?? 0)),
  );
  const lines = rows.map((row) =>
    row.map((cell, column) => (column < 3 ? cell.padEnd(widths[column] ?? 0) : cell)).join('  '),
  );
  return `${header}${lines.join('\n')}\n${String(report.findings.length)} finding(s)\n`;
}

function positiveInteger(flag: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) {
    throw new DoctorConfigError(`'${flag}' (${value}) must be a positive integer`);
  }
  return parsed;
}

/** Runs `meshward doctor` with the arguments after `doctor`; resolves to the exit code. */
export async function doctorMain(
  argv: readonly string[],
  io: DoctorIo = defaultIo,
): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: [...argv],
        strict: true,
        allowPositionals: false,
        options: {
          kubeconfig: { type: 'string' },
          context: { type: 'string' },
          dist: { type: 'string', default: 'dist' },
          json: { type: 'boolean', default: false },
          'skip-jwks': { type: 'boolean', default: false },
          'jwks-timeout': { type: 'string', default: '3000' },
          'root-namespace': { type: 'string', default: 'istio-system' },
          help: { type: 'boolean', short: 'h', default: false },
        },
      });
    } catch (error) {
      throw new DoctorConfigError(`${(error as Error).message}\n${DOCTOR_USAGE}`);
    }
    const { values } = parsed;
    if (values.help) {
      io.stdout(`${DOCTOR_USAGE}\n`);
      return 0;
    }
    const createReader = io.createReader ?? ((options) => new KubeReader(options));
    const reader = createReader({
      ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
      ...(values.context === undefined ? {} : { context: values.context }),
    });
    const report = await runDoctor({
      reader,
      distDir: values.dist,
      skipJwks: values['skip-jwks'],
      jwksTimeoutMs: positiveInteger('--jwks-timeout', values['jwks-timeout']),
      rootNamespace: values['root-namespace'],
    });
    io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report));
    return report.findings.length > 0 ? 1 : 0;
  } catch (error) {
    if (error instanceof DoctorConfigError) {
      io.stderr(`meshward doctor: ${error.message}\n`);
      return 2;
    }
    io.stderr(
      `meshward doctor: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 2;
  }
}
