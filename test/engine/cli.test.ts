import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decision } from '../../policies/engine/index.js';

const ROOT = process.cwd();
const BIN = join(ROOT, 'policies/engine/bin/meshward.js');
const SHOP = join(ROOT, 'test/engine/fixtures/shop.yaml');
const GW = 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';

function run(args: string[], input = '', cwd = ROOT) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    input,
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const req = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id,
    destination: { namespace: 'shop', labels: { app: 'orders' }, port: 8080 },
    source: { mtls: true, principal: GW },
    method: 'GET',
    path: '/api/public/x',
    ...extra,
  });

describe('meshward decide', () => {
  it('answers one line per request, in order, with exactly id, outcome, status, reason, policies', () => {
    // GIVEN two requests WHEN decided THEN two decision lines in the same order
    const r = run(
      ['decide', '--manifests', SHOP],
      `${req('a')}\n${req('b', { source: { mtls: false } })}\n`,
    );
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(
      '{"id":"a","outcome":"allow","status":200,"reason":"allowed by shop/orders","policies":["shop/orders"]}',
    );
    expect(Object.keys(JSON.parse(lines[1] ?? '{}') as object)).toEqual([
      'id',
      'outcome',
      'status',
      'reason',
      'policies',
    ]);
    expect(JSON.parse(lines[1] ?? '{}')).toMatchObject({ id: 'b', outcome: 'reset', status: 0 });
  });

  it('reports a malformed line on stderr and keeps answering the following lines', () => {
    const r = run(
      ['decide', '--manifests', SHOP],
      `${req('a')}\n{not json\n{"id":"c"}\n${req('d')}\n`,
    );
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.id, l.outcome])).toEqual([
      ['a', 'allow'],
      [null, 'error'],
      [null, 'error'],
      ['d', 'allow'],
    ]);
    expect(lines[2]?.reason).toBe("line 3: request has no 'destination' object");
    expect(r.stderr).toContain('line 2: ');
    expect(r.stderr).toContain("line 3: request has no 'destination' object");
  });

  it('accepts several manifest paths and works from another directory', () => {
    const r = run(
      ['decide', '--manifests', SHOP, join(ROOT, 'test/engine/fixtures')],
      `${req('a')}\n`,
      '/tmp',
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout) as unknown).toMatchObject({ id: 'a', outcome: 'allow' });
  });

  it('GIVEN no mesh flags WHEN deciding THEN the installed mesh applies and stderr says so', () => {
    const input = `${req('a', { path: '//api/public/x' })}\n`;
    const r = run(['decide', '--manifests', SHOP], input);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'allow' });
    expect(r.stderr).toContain('semantics of Istio 1.31 (istio.io/istio@v0.0.0-');
    expect(r.stderr).toContain('path normalization DECODE_AND_MERGE_SLASHES');
    expect(r.stderr).toContain('(the installed mesh)');
  });

  it('applies --path-normalization over the mesh config', () => {
    const input = `${req('a', { path: '//api/public/x' })}\n`;
    const decided = (args: string[]) =>
      JSON.parse(run(['decide', '--manifests', SHOP, ...args], input).stdout) as Decision;
    expect(decided(['--path-normalization', 'BASE']).outcome).toBe('deny');
    expect(decided(['--path-normalization', 'MERGE_SLASHES']).outcome).toBe('allow');
    const mesh = join(mkdtempSync(join(tmpdir(), 'mesh-')), 'mesh.yaml');
    // a MeshConfig without pathNormalization means Istio's default, BASE
    writeFileSync(mesh, 'trustDomainAliases: [corp.example]\n');
    expect(decided(['--mesh-config', mesh]).outcome).toBe('deny');
    expect(decided(['--mesh-config', mesh, '--path-normalization', 'MERGE_SLASHES']).outcome).toBe(
      'allow',
    );
    // the caller's cluster.local certificate is outside another trust domain
    writeFileSync(mesh, 'trustDomain: corp.example\n');
    expect(decided(['--mesh-config', mesh])).toMatchObject({ outcome: 'reset', status: 0 });
  });

  it('rejects a bad --mesh-config naming the file and field', () => {
    const mesh = join(mkdtempSync(join(tmpdir(), 'mesh-')), 'mesh.yaml');
    writeFileSync(mesh, 'trustDomain: ""\n');
    const r = run(['decide', '--manifests', SHOP, '--mesh-config', mesh], '');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${mesh}: trustDomain must be a non-empty string`);
  });

  it('rejects an unknown --path-normalization with exit 2', () => {
    const r = run(['decide', '--manifests', SHOP, '--path-normalization', 'FAST']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "--path-normalization 'FAST' must be one of BASE, NONE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES",
    );
  });

  it('rejects a missing --manifests', () => {
    const r = run(['decide']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--manifests <file|dir>... is required');
  });
});

describe('meshward lint', () => {
  it('exits 0 on the clean fixture', () => {
    const r = run(['lint', '--manifests', SHOP]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0 error(s)');
  });

  it('exits 1 on an error-level finding and prints JSON with --json', () => {
    const bad = join(ROOT, 'test/engine/fixtures/bad-lint.yaml');
    const r = run(['lint', '--manifests', bad, '--json']);
    expect(r.code).toBe(1);
    const findings = JSON.parse(r.stdout) as { code: string; severity: string }[];
    expect(findings).toContainEqual(expect.objectContaining({ code: 'MW003', severity: 'error' }));
  });
});

describe('mistyped input (red-team L3)', () => {
  it.each([
    [
      { tokens: [{ claims: { iss: 'x' }, valid: 'false' }] },
      'tokens[0].valid must be true or false, got "false"',
    ],
    [{ method: ['GET'] }, 'method must be a string, got ["GET"]'],
    [{ source: { mtls: 'yes' } }, 'source.mtls must be true or false, got "yes"'],
    [
      { source: { pod: 'web' } },
      'source.pod must be an object with a non-empty namespace, got "web"',
    ],
    [
      { source: { pod: { namespace: 'shop', labels: { app: 1 } } } },
      'source.pod.labels.app must be a string, got 1',
    ],
    [
      { destination: { namespace: 'shop', portName: 8080 } },
      'destination.portName must be a string, got 8080',
    ],
    [{ path: 123 }, 'path must be a string, got 123'],
    [{ headers: { 'x-n': 5 } }, 'headers.x-n must be a string or a list of strings, got 5'],
    [
      { tokens: [{ claims: {}, location: { param: 1 } }] },
      'tokens[0].location.param must be a string, got 1',
    ],
  ])('answers %j with an error line naming the field, never a decision', (extra, message) => {
    const r = run(['decide', '--manifests', SHOP], `${req('bad', extra)}\n${req('ok')}\n`);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { outcome: string; reason: string });
    expect(lines.map((l) => l.outcome)).toEqual(['error', 'allow']);
    expect(lines.at(0)?.reason).toBe(`line 1: ${message}`);
    expect(r.stderr).not.toMatch(/TypeError|is not a function/);
  });

  it('lints a rule whose methods is a string as MW110, naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-types-'));
    writeFileSync(
      join(dir, 'p.yaml'),
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: shop }\nspec:\n  rules: [{ to: [{ operation: { methods: GET } }] }]\n',
    );
    const r = run(['lint', '--manifests', dir, '--json']);
    const findings = JSON.parse(r.stdout) as { code: string; message: string }[];
    expect(r.code).toBe(1);
    expect(findings.find((f) => f.code === 'MW110')?.message).toMatch(
      /^spec\.rules\[0\]\.to\[0\]\.operation\.methods must be a list of strings, got "GET"/,
    );
  });

  it('warns when a --manifests path holds no object it models', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-empty-'));
    writeFileSync(join(dir, 'empty.yaml'), '- a\n- b\n');
    const r = run(['lint', '--manifests', dir, SHOP]);
    expect(r.stderr).toContain(
      `meshward: warning: --manifests '${dir}' holds no object meshward models`,
    );
    expect(r.stderr).not.toContain(`'${SHOP}'`);
  });
});

describe('meshward matrix', () => {
  it('prints JSON with cells and mismatches and exits 0 when they agree', () => {
    const r = run(['matrix', '--manifests', SHOP, '--json']);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout) as { cells: unknown[]; mismatches: unknown[] };
    expect(m.cells.length).toBe(210);
    expect(m.mismatches).toEqual([]);
  });

  it("GIVEN --realm with a realm export WHEN the matrix is printed THEN its columns are the realm's principals", () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-realm-'));
    const file = join(dir, 'shop.json');
    writeFileSync(
      file,
      JSON.stringify({
        realm: 'shop',
        roles: { realm: [{ name: 'USER' }] },
        clientScopes: [
          {
            name: 'basic',
            protocolMappers: [{ protocolMapper: 'oidc-sub-mapper', config: {} }],
            attributes: { 'include.in.token.scope': 'false' },
          },
          {
            name: 'api',
            attributes: { 'include.in.token.scope': 'false' },
            protocolMappers: [
              {
                protocolMapper: 'oidc-audience-mapper',
                config: { 'included.custom.audience': 'shop-api' },
              },
              {
                protocolMapper: 'oidc-usermodel-realm-role-mapper',
                config: { 'claim.name': 'realm_access.roles' },
              },
            ],
          },
        ],
        clients: [{ clientId: 'web', publicClient: true, defaultClientScopes: ['basic', 'api'] }],
        users: [{ username: 'ann', realmRoles: ['USER'] }],
      }),
    );

    const r = run(['matrix', '--manifests', SHOP, '--realm', file]);

    expect(r.stdout.split('\n')[0]).toBe(
      `# principals of realm 'shop' (${file}, issuer https://auth.example.com/realms/shop): USER = ann`,
    );
    expect(r.stdout.split('\n')[1]).toMatch(/caller\s+no token\s+USER\s+forged\s+other issuer$/);
  });

  it('rejects a --realm file whose realm matches no issuer, naming the file and the issuers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-realm-'));
    const file = join(dir, 'other.json');
    writeFileSync(file, JSON.stringify({ realm: 'other' }));

    const r = run(['matrix', '--manifests', SHOP, '--realm', file]);

    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `meshward: realm file '${file}' (realm 'other'): no RequestAuthentication issuer ends in /realms/other (issuers: https://auth.example.com/realms/shop)\n`,
    );
  });

  it('prints mermaid with --mermaid', () => {
    expect(
      run(['matrix', '--manifests', SHOP, '--mermaid']).stdout.startsWith('flowchart LR'),
    ).toBe(true);
  });
});
