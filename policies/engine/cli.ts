import { createInterface } from 'node:readline';
import { compile, decide } from './engine.js';
import { formatFindings, lint } from './lint.js';
import { loadManifests, MODELED_KINDS } from './manifests.js';
import { formatMatrix, formatMermaid, matrix, mismatches } from './matrix.js';
import { INSTALLED_MESH, ISTIO_SEMANTICS, type MeshSettings, readMeshSettings } from './mesh.js';
import {
  type Decision,
  isRecord,
  type K8sObject,
  type Manifests,
  type MeshRequest,
  PATH_NORMALIZATIONS,
  type PathNormalization,
} from './model.js';
import { type RealmFile, readRealmFile } from './realms.js';

export const HELP = `meshward — offline Istio security engine

  meshward decide --manifests <file|dir>... [--root-namespace istio-system]
                  [--mesh-config FILE]
                  [--path-normalization BASE|NONE|MERGE_SLASHES|DECODE_AND_MERGE_SLASHES]
      stdin: one JSON request per line; stdout: one JSON decision per line, same order,
      fields id, outcome, status, reason, policies. stderr's first line names the Istio
      release whose semantics decide follows and the mesh settings in force.
      The mesh: --mesh-config (an IstioOperator's spec.meshConfig, or a MeshConfig: its
      pathNormalization, trustDomain, trustDomainAliases); without it, the mesh meshward
      installs (scripts/istio/mesh.yaml: DECODE_AND_MERGE_SLASHES, cluster.local).
      --path-normalization overrides the mesh's.
      Before any policy: a peer principal outside the trust domain is reset (the TLS
      handshake fails), as is a ClientHello to a gateway TLS port whose SNI no Gateway
      server accepts (sni absent = none); ports 15020, 15021 and 15090 are the sidecar's
      own and outside authorization (allow).
      A malformed line is reported on stderr ("line N: ...") and still answered on stdout
      as {"id":null,"outcome":"error","status":400,"reason":"line N: ...","policies":[]};
      the following lines are answered normally. Blank lines are skipped.
      A matching CUSTOM policy cannot be decided offline: outcome deny, status 403,
      reason "undecidable: CUSTOM provider '<name>' ...". Dry-run policies are evaluated
      and named in the reason, never enforced.
      NetworkPolicies are checked first when the request names the pod it comes from,
      "source": {"pod": {"namespace": "shop", "labels": {"app": "web"}}} (with
      "destination": {"portName": "http"} for rules that name ports): a connection they
      refuse is outcome unreachable, status 0, reason "NetworkPolicy: no ingress rule of
      ... admits ..."; a request without source.pod is not checked against them.
      Before them, the Sidecar of a source pod with mTLS (a sidecar of its own): a
      destination its egress does not list is outcome blocked under REGISTRY_ONLY (status
      502 where the caller has an HTTP listener on the port, 0 where it has none), and
      under ALLOW_ANY (the mesh default) passes through without mTLS.
  meshward lint   --manifests <file|dir>... [--root-namespace ns] [--realm file.json]... [--json]
                  [--mesh-config FILE]
      findings (MW001..MW018 classic misconfigurations, MW1xx invalid objects, MW2xx the
      realm <-> policy contract where a Keycloak realm is known); exit 1 on any error.
      The mesh as for decide: MW015 (a JWKS the mesh cannot fetch) follows its
      values.pilot.env PILOT_JWT_ENABLE_REMOTE_JWKS (installed: envoy).
  meshward matrix --manifests <file|dir>... [--root-namespace ns] [--client-ip ip] [--mesh-config FILE]
                  [--realm file.json]... [--json | --mermaid]
      every caller x annotated route x principal; exit 1 when a cell differs from the
      meshward.io/routes intent. Principals are the tokens each known Keycloak realm
      issues to whom (a ConfigMap annotated meshward.io/issuer in the manifests, or a
      realm export given with --realm, matched to the issuer ending in /realms/<name>);
      for other issuers, the claim values the policies check (said in the header).
      Callers are pods (a workload's labels, the gateway's, an unlabelled pod in default
      for plaintext), so NetworkPolicies and the callers' Sidecars apply: X = unreachable,
      B = blocked by the caller's own proxy.
  meshward verify-dataplane --manifests <file|dir>... [--mesh-config FILE] [--seed N]
                  [--size N] [--requests FILE] [--work DIR] [--json]
      decide against a real Envoy configured by istiod's own code from the same manifests
      (root; tools from scripts/integration/provision.sh dataplane envoy); exit 1 on any
      disagreement, each printed with both answers.
  meshward doctor [--kubeconfig FILE] [--context NAME] [--dist DIR] [--json] [--skip-jwks]
      checks a live cluster (sidecars, STRICT mTLS, default deny, drift against dist/,
      JWKS reachability, unselected workloads); exit 1 on findings, 2 on connection errors.
`;

interface Args {
  readonly command: string;
  readonly manifests: string[];
  readonly rootNamespace: string;
  /** --path-normalization, overriding the mesh's. */
  readonly pathNormalization: PathNormalization | undefined;
  readonly meshConfig: string | undefined;
  readonly json: boolean;
  readonly mermaid: boolean;
  readonly clientIp: string | undefined;
  readonly realms: string[];
}

export function parseArgs(argv: readonly string[]): Args {
  const [command = '', ...rest] = argv;
  const manifests: string[] = [];
  let rootNamespace = 'istio-system';
  let pathNormalization: PathNormalization | undefined;
  let meshConfig: string | undefined;
  let json = false;
  let mermaid = false;
  let clientIp: string | undefined;
  const realms: string[] = [];
  const value = (i: number, flag: string): string => {
    const v = rest.at(i);
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    switch (flag) {
      case '--manifests':
        if (inline !== undefined) manifests.push(inline);
        else {
          manifests.push(value(++i, flag));
          while (rest.at(i + 1) !== undefined && !(rest.at(i + 1) ?? '').startsWith('--'))
            manifests.push(rest[++i] ?? '');
        }
        break;
      case '--root-namespace':
        rootNamespace = inline ?? value(++i, flag);
        break;
      case '--path-normalization': {
        const v = inline ?? value(++i, flag);
        if (!PATH_NORMALIZATIONS.includes(v as PathNormalization)) {
          throw new Error(
            `--path-normalization '${v}' must be one of ${PATH_NORMALIZATIONS.join(', ')}`,
          );
        }
        pathNormalization = v as PathNormalization;
        break;
      }
      case '--mesh-config':
        meshConfig = inline ?? value(++i, flag);
        break;
      case '--client-ip':
        clientIp = inline ?? value(++i, flag);
        break;
      case '--realm':
        realms.push(inline ?? value(++i, flag));
        break;
      case '--json':
        json = true;
        break;
      case '--mermaid':
        mermaid = true;
        break;
      default:
        throw new Error(`unknown argument '${arg}'`);
    }
  }
  if (manifests.length === 0) throw new Error('--manifests <file|dir>... is required');
  return {
    command,
    manifests,
    rootNamespace,
    pathNormalization,
    meshConfig,
    json,
    mermaid,
    clientIp,
    realms,
  };
}

/** The value as JSON (`undefined` when it has none). */
const show = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v));

/** Throws naming `field` unless `v` is a string (or absent, when optional). */
function str(v: unknown, field: string, optional = true): void {
  if (v === undefined && optional) return;
  if (typeof v !== 'string') throw new Error(`${field} must be a string, got ${show(v)}`);
}

function bool(v: unknown, field: string): void {
  if (v !== undefined && typeof v !== 'boolean') {
    throw new Error(`${field} must be true or false, got ${show(v)}`);
  }
}

function strRecord(v: unknown, field: string, lists = false): void {
  if (v === undefined) return;
  if (!isRecord(v)) throw new Error(`${field} must be an object, got ${show(v)}`);
  for (const [k, x] of Object.entries(v)) {
    const ok =
      typeof x === 'string' || (lists && Array.isArray(x) && x.every((e) => typeof e === 'string'));
    if (!ok) {
      throw new Error(
        `${field}.${k} must be a string${lists ? ' or a list of strings' : ''}, got ${show(x)}`,
      );
    }
  }
}

/**
 * Type-checks a request line field by field: a mistyped field is an error naming it, never
 * a silently different request (`"valid":"false"` would have counted as a valid token).
 */
function validateRequest(value: unknown): MeshRequest {
  if (!isRecord(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw new Error(`request must be a JSON object, got ${got}`);
  }
  const id = value.id;
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number') {
    throw new Error(`id must be a string, a number or null, got ${show(id)}`);
  }
  const d = value.destination;
  if (!isRecord(d)) throw new Error("request has no 'destination' object");
  if (typeof d.namespace !== 'string' || d.namespace === '') {
    throw new Error(`destination.namespace must be a non-empty string, got ${show(d.namespace)}`);
  }
  if (d.labels !== undefined && !isRecord(d.labels))
    throw new Error('destination.labels must be an object');
  strRecord(d.labels, 'destination.labels');
  if (
    d.port !== undefined &&
    (typeof d.port !== 'number' || !Number.isInteger(d.port) || d.port < 1 || d.port > 65535)
  ) {
    throw new Error(`destination.port (${show(d.port)}) must be an integer 1-65535`);
  }
  str(d.ip, 'destination.ip');
  str(d.portName, 'destination.portName');
  if (value.source !== undefined) {
    const src = value.source;
    if (!isRecord(src)) throw new Error(`source must be an object, got ${show(src)}`);
    bool(src.mtls, 'source.mtls');
    str(src.principal, 'source.principal');
    str(src.ip, 'source.ip');
    if (src.pod !== undefined) {
      const pod = src.pod;
      if (!isRecord(pod) || typeof pod.namespace !== 'string' || pod.namespace === '') {
        throw new Error(
          `source.pod must be an object with a non-empty namespace, got ${show(pod)}`,
        );
      }
      strRecord(pod.labels, 'source.pod.labels');
    }
  }
  for (const field of ['remoteIp', 'method', 'path', 'host', 'sni'] as const) {
    str(value[field], field);
  }
  strRecord(value.headers, 'headers', true);
  if (value.tokens !== undefined && !Array.isArray(value.tokens)) {
    throw new Error(`tokens must be an array of objects with claims, got ${show(value.tokens)}`);
  }
  (Array.isArray(value.tokens) ? (value.tokens as unknown[]) : []).forEach((t, i) => {
    if (!isRecord(t)) throw new Error(`tokens[${i}] must be an object with claims, got ${show(t)}`);
    if (!isRecord(t.claims)) {
      throw new Error(`tokens[${i}].claims must be an object, got ${show(t.claims)}`);
    }
    bool(t.valid, `tokens[${i}].valid`);
    if (t.location !== undefined) {
      if (!isRecord(t.location)) throw new Error(`tokens[${i}].location must be an object`);
      for (const k of ['header', 'prefix', 'param', 'cookie']) {
        str(t.location[k], `tokens[${i}].location.${k}`);
      }
    }
  });
  if (value.protocol !== undefined && value.protocol !== 'http' && value.protocol !== 'tcp') {
    throw new Error(`protocol ${show(value.protocol)} must be http or tcp`);
  }
  return value as unknown as MeshRequest;
}

/** The line as JSON, or an error that says it is not JSON (the parser's words alone do not). */
function parseLine(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`);
  }
}

function line(d: Decision): string {
  return JSON.stringify({
    id: d.id,
    outcome: d.outcome,
    status: d.status,
    reason: d.reason,
    policies: d.policies,
  });
}

/** The mesh of `--mesh-config` (else the installed one), `--path-normalization` applied. */
export function meshOf(args: Args): MeshSettings {
  const mesh = args.meshConfig === undefined ? INSTALLED_MESH : readMeshSettings(args.meshConfig);
  return { ...mesh, pathNormalization: args.pathNormalization ?? mesh.pathNormalization };
}

async function runDecide(args: Args): Promise<number> {
  const mesh = meshOf(args);
  const compiled = compile(manifestsOf(args), { rootNamespace: args.rootNamespace, ...mesh });
  process.stderr.write(
    `meshward decide: semantics of Istio ${ISTIO_SEMANTICS.release} (${ISTIO_SEMANTICS.module}); ` +
      `mesh: path normalization ${mesh.pathNormalization}, trust domain ${[mesh.trustDomain, ...mesh.trustDomainAliases].join(', ')}` +
      `${args.meshConfig === undefined ? ' (the installed mesh)' : ` (${args.meshConfig})`}\n`,
  );
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let n = 0;
  let out = '';
  for await (const text of rl) {
    n++;
    if (text.trim() === '') continue;
    let decision: Decision;
    try {
      decision = decide(compiled, validateRequest(parseLine(text)));
    } catch (e) {
      const reason = `line ${n}: ${(e as Error).message}`;
      process.stderr.write(`meshward decide: ${reason}\n`);
      decision = { id: null, outcome: 'error', status: 400, reason, policies: [] };
    }
    out += `${line(decision)}\n`;
    if (out.length > 65536) {
      process.stdout.write(out);
      out = '';
    }
  }
  process.stdout.write(out);
  return 0;
}

/**
 * The manifests of `--manifests`, path by path, warning on stderr about a path that held none.
 * An error that does not name its path (the YAML library's alias-bomb refusal) gets it.
 */
function manifestsOf(args: Args): Manifests {
  const objects: K8sObject[] = [];
  for (const path of args.manifests) {
    let loaded: Manifests & { readonly empty: string[] };
    try {
      loaded = loadManifests([path]);
    } catch (e) {
      const message = (e as Error).message;
      throw new Error(message.includes(path) ? message : `--manifests '${path}': ${message}`);
    }
    for (const empty of loaded.empty) {
      process.stderr.write(
        `meshward: warning: --manifests '${empty}' holds no object meshward models (${[...MODELED_KINDS].slice(0, 3).join(', ')}, ...): nothing there is checked\n`,
      );
    }
    objects.push(...loaded.objects);
  }
  return { objects };
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(HELP);
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === 'verify-dataplane') {
    // Loaded on demand: only this command starts istiod's generator and Envoys.
    const { verifyMain } = await import('../dataplane/cli.js');
    return verifyMain(argv.slice(1));
  }
  if (argv[0] === 'doctor') {
    // Loaded on demand: only doctor needs a cluster client.
    const { doctorMain } = await import('../doctor/cli.js');
    return doctorMain(argv.slice(1));
  }
  let args: Args;
  try {
    args = parseArgs(argv);
    switch (args.command) {
      case 'decide':
        return await runDecide(args);
      case 'lint': {
        const realmFiles: RealmFile[] = args.realms.map(readRealmFile);
        const findings = lint(manifestsOf(args), {
          rootNamespace: args.rootNamespace,
          realmFiles,
          mesh: meshOf(args),
        });
        process.stdout.write(
          args.json ? `${JSON.stringify(findings, null, 2)}\n` : formatFindings(findings),
        );
        return findings.some((f) => f.severity === 'error') ? 1 : 0;
      }
      case 'matrix': {
        const m = matrix(manifestsOf(args), {
          rootNamespace: args.rootNamespace,
          ...meshOf(args),
          realmFiles: args.realms.map(readRealmFile),
          ...(args.clientIp === undefined ? {} : { clientIp: args.clientIp }),
        });
        const mm = mismatches(m);
        if (args.json)
          process.stdout.write(`${JSON.stringify({ ...m, mismatches: mm }, null, 2)}\n`);
        else if (args.mermaid) process.stdout.write(formatMermaid(m));
        else process.stdout.write(formatMatrix(m));
        return mm.length > 0 ? 1 : 0;
      }
      default:
        throw new Error(`unknown command '${args.command}' (decide, lint, matrix, doctor)`);
    }
  } catch (e) {
    process.stderr.write(`meshward: ${(e as Error).message}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
