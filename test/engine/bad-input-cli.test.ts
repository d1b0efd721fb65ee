/**
 * The red-team review's bad-input catalog for the CLI (research/red-team/NOTES.md, "## Bad
 * inputs": 30 inputs at 9bdcfe4, 12 to lint and the arguments, 15 malformed decide lines, 3
 * huge inputs), one row per input with what the real CLI does today:
 * - clear error: the exit code, and a message naming the file or the field (a decide line's
 *   error is its answer, and the next line is still answered);
 * - handled: answered correctly, for the reason given.
 * There is no third outcome: an input the CLI silently misreads is a bug, not a row.
 *
 * The huge inputs are a tenth of the review's (5 MB path, 20 000 headers, 30 000 lines instead
 * of 50 MB, 200 000 and 300 000), so the file runs in seconds; the answers are the same.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = process.cwd();
const BIN = join(ROOT, 'policies/engine/bin/meshward.js');
const SHOP = join(ROOT, 'test/engine/fixtures/shop.yaml');
const GW = 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';
const DIR = mkdtempSync(join(tmpdir(), 'mw-bad-input-'));

interface Output {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}
interface Answer {
  readonly id: unknown;
  readonly outcome: string;
  readonly status: number;
  readonly reason: string;
}
/** What a row got: its process's exit code and output; for decide input, its own answers. */
interface Result extends Output {
  readonly answers: readonly Answer[];
  /** The line number, in the stream decide read, of the row's first line. */
  readonly first: number;
}

/** Runs the CLI as cli.test.ts does, without blocking, so the rows' processes run side by side. */
function run(args: readonly string[], input = ''): Promise<Output> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
    // A command that exits before reading stdin (a usage error) closes the pipe: its answer
    // is in the result, not in the write.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** A request to the fixture's orders, through the gateway, to a public path (cli.test.ts's). */
const req = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id,
    destination: { namespace: 'shop', labels: { app: 'orders' }, port: 8080 },
    source: { mtls: true, principal: GW },
    method: 'GET',
    path: '/api/public/x',
    ...extra,
  });
const answers = (o: Output): Answer[] =>
  o.stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Answer);

const POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: p, namespace: shop }
spec:
  selector: { matchLabels: { app: orders } }
`;
/** Nine levels of nine aliases, each of the level before: 9^9 strings once expanded. */
const LEVELS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
const ALIAS_BOMB = LEVELS.map((n, i) => {
  const item = i === 0 ? 'lol' : `*${LEVELS[i - 1]}`;
  return `${n}: &${n} [${Array<string>(9).fill(item).join(', ')}]`;
}).join('\n');

/** `lint` or other arguments (with files, written to DIR), or lines to `decide`. */
type Input =
  | { readonly args: readonly string[]; readonly files?: Readonly<Record<string, string>> }
  | { readonly lines: readonly string[] };
const lint = (file: string, content: string): Input => ({
  args: ['lint', '--manifests', join(DIR, file)],
  files: { [file]: content },
});

type Outcome =
  | {
      readonly outcome: 'clear error';
      readonly code: number;
      readonly stream: 'stdout' | 'stderr';
      readonly message: RegExp;
    }
  | { readonly outcome: 'handled'; readonly reason: string; readonly check: (r: Result) => void };
const clearError = (code: number, stream: 'stdout' | 'stderr', message: RegExp): Outcome => ({
  outcome: 'clear error',
  code,
  stream,
  message,
});
/** A decide line's error: the answer's reason (after "line N: "), exit 0, the next line answered. */
const lineError = (message: RegExp): Outcome => clearError(0, 'stdout', message);
const handled = (reason: string, check: (r: Result) => void): Outcome => ({
  outcome: 'handled',
  reason,
  check,
});

type Group = 'lint and arguments' | 'decide lines' | 'huge input';
/** What the review found: a clear error, an unclear one (raw TypeError text), silence, or handled. */
type Review = 'clear' | 'unclear' | 'silent' | 'handled';
type Row = {
  readonly id: string;
  readonly group: Group;
  readonly review: Review;
  readonly input: Input;
} & Outcome;
const row = (id: string, group: Group, review: Review, input: Input, outcome: Outcome): Row => ({
  id,
  group,
  review,
  input,
  ...outcome,
});

const BIG_PATH = `/api/public/${'a'.repeat(5 * 1024 * 1024)}`;
const MANY_HEADERS = Object.fromEntries(
  Array.from({ length: 20_000 }, (_, i) => [`x-h-${i}`, `v${i}`]),
);
const MANY_LINES = Array.from({ length: 30_000 }, (_, i) => req(`l${i}`));

const L = 'lint and arguments';
const D = 'decide lines';
const rows: readonly Row[] = [
  row(
    'lint/malformed-yaml',
    L,
    'clear',
    lint(
      'malformed.yaml',
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n namespace: shop\n',
    ),
    clearError(
      2,
      'stderr',
      /^meshward: \S+\/malformed\.yaml: document 0: malformed YAML: All mapping items must start at the same column at line 5, column 1/,
    ),
  ),
  row(
    'lint/unknown-when-key',
    L,
    'clear',
    lint(
      'when-key.yaml',
      `${POLICY}  rules: [{ to: [{ operation: { paths: ['/x'] } }], when: [{ key: request.auth.claims.roles, values: [ADMIN] }] }]\n`,
    ),
    clearError(
      1,
      'stdout',
      /^error\s+MW102\s+AuthorizationPolicy shop\/p\n\s+unknown when key 'request\.auth\.claims\.roles'/m,
    ),
  ),
  row(
    'lint/unknown-action',
    L,
    'clear',
    lint(
      'action.yaml',
      `${POLICY}  action: PERMIT\n  rules: [{ to: [{ operation: { paths: ['/x'] } }] }]\n`,
    ),
    clearError(
      1,
      'stdout',
      /^error\s+MW104\s+AuthorizationPolicy shop\/p\n\s+unknown action 'PERMIT'/m,
    ),
  ),
  row(
    'lint/alias-bomb',
    L,
    'clear',
    lint('bomb.yaml', `${ALIAS_BOMB}\n`),
    clearError(
      2,
      'stderr',
      /^meshward: --manifests '\S+\/bomb\.yaml': Excessive alias count indicates a resource exhaustion attack$/m,
    ),
  ),
  row(
    'args/nonexistent-path',
    L,
    'clear',
    { args: ['lint', '--manifests', join(DIR, 'nope.yaml')] },
    clearError(2, 'stderr', /^meshward: manifest path '\S+\/nope\.yaml' does not exist$/m),
  ),
  row(
    'args/unknown-command',
    L,
    'clear',
    { args: ['explain', '--manifests', SHOP] },
    clearError(
      2,
      'stderr',
      /^meshward: unknown command 'explain' \(decide, lint, matrix, doctor\)$/m,
    ),
  ),
  row(
    'args/bad-path-normalization',
    L,
    'clear',
    { args: ['decide', '--manifests', SHOP, '--path-normalization', 'FAST'] },
    clearError(
      2,
      'stderr',
      /^meshward: --path-normalization 'FAST' must be one of BASE, NONE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES$/m,
    ),
  ),
  row(
    'lint/unknown-kind',
    L,
    'silent',
    lint(
      'widget.yaml',
      'apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w, namespace: shop }\nspec: { size: 3 }\n',
    ),
    clearError(
      0,
      'stderr',
      /^meshward: warning: --manifests '\S+\/widget\.yaml' holds no object meshward models .*: nothing there is checked$/m,
    ),
  ),
  row(
    'lint/harmless-alias',
    L,
    'silent',
    lint(
      'alias.yaml',
      `${POLICY}  rules:\n    - to: [{ operation: { methods: &m [GET], paths: ['/a'] } }]\n    - to: [{ operation: { methods: *m, paths: ['/b'] } }]\n`,
    ),
    handled(
      'an alias resolves as YAML (and Kubernetes) define it: the second rule reads the list [GET], so there is nothing to report',
      (r) => {
        expect(r.code).toBe(0);
        expect(r.stdout).toBe('no findings\n');
        expect(r.stderr).not.toContain('warning');
      },
    ),
  ),
  row(
    'lint/list-of-scalars',
    L,
    'silent',
    lint('scalars.yaml', '- a\n- b\n'),
    clearError(
      0,
      'stderr',
      /^meshward: warning: --manifests '\S+\/scalars\.yaml' holds no object meshward models/m,
    ),
  ),
  row(
    'lint/empty-file',
    L,
    'silent',
    lint('empty.yaml', ''),
    clearError(
      0,
      'stderr',
      /^meshward: warning: --manifests '\S+\/empty\.yaml' holds no object meshward models/m,
    ),
  ),
  row(
    'lint/methods-string',
    L,
    'silent',
    lint(
      'methods.yaml',
      `${POLICY}  rules: [{ to: [{ operation: { methods: GET, paths: ['/x'] } }] }]\n`,
    ),
    clearError(
      1,
      'stdout',
      /^error\s+MW110\s+AuthorizationPolicy shop\/p\n\s+spec\.rules\[0\]\.to\[0\]\.operation\.methods must be a list of strings, got "GET"/m,
    ),
  ),

  row(
    'decide/not-json',
    D,
    'clear',
    { lines: ['{not json'] },
    lineError(/^not JSON: Expected property name/),
  ),
  row(
    'decide/no-destination',
    D,
    'clear',
    { lines: ['{"id":"x"}'] },
    lineError(/^request has no 'destination' object$/),
  ),
  row(
    'decide/empty-namespace',
    D,
    'clear',
    { lines: [req('x', { destination: { namespace: '' } })] },
    lineError(/^destination\.namespace must be a non-empty string, got ""$/),
  ),
  row(
    'decide/port-string',
    D,
    'clear',
    { lines: [req('x', { destination: { namespace: 'shop', port: '8080' } })] },
    lineError(/^destination\.port \("8080"\) must be an integer 1-65535$/),
  ),
  row(
    'decide/port-70000',
    D,
    'clear',
    { lines: [req('x', { destination: { namespace: 'shop', port: 70000 } })] },
    lineError(/^destination\.port \(70000\) must be an integer 1-65535$/),
  ),
  row(
    'decide/tokens-not-array',
    D,
    'clear',
    { lines: [req('x', { tokens: { claims: {} } })] },
    lineError(/^tokens must be an array of objects with claims, got \{"claims":\{\}\}$/),
  ),
  row(
    'decide/token-without-claims',
    D,
    'clear',
    { lines: [req('x', { tokens: [{ valid: true }] })] },
    lineError(/^tokens\[0\]\.claims must be an object, got undefined$/),
  ),
  row(
    'decide/protocol-udp',
    D,
    'clear',
    { lines: [req('x', { protocol: 'udp' })] },
    lineError(/^protocol "udp" must be http or tcp$/),
  ),
  row(
    'decide/array',
    D,
    'clear',
    { lines: [`[${req('x')}]`] },
    lineError(/^request must be a JSON object, got an array$/),
  ),
  row(
    'decide/null',
    D,
    'clear',
    { lines: ['null'] },
    lineError(/^request must be a JSON object, got null$/),
  ),
  row(
    'decide/path-number',
    D,
    'unclear',
    { lines: [req('x', { path: 123 })] },
    lineError(/^path must be a string, got 123$/),
  ),
  row(
    'decide/header-number',
    D,
    'unclear',
    { lines: [req('x', { headers: { 'x-n': 5 } })] },
    lineError(/^headers\.x-n must be a string or a list of strings, got 5$/),
  ),
  row(
    'decide/method-array',
    D,
    'silent',
    { lines: [req('x', { method: ['GET'] })] },
    lineError(/^method must be a string, got \["GET"\]$/),
  ),
  row(
    'decide/mtls-string',
    D,
    'silent',
    { lines: [req('x', { source: { mtls: 'yes', principal: GW } })] },
    lineError(/^source\.mtls must be true or false, got "yes"$/),
  ),
  row(
    'decide/valid-string',
    D,
    'silent',
    { lines: [req('x', { tokens: [{ claims: { iss: 'x' }, valid: 'false' }] })] },
    lineError(/^tokens\[0\]\.valid must be true or false, got "false"$/),
  ),

  row(
    'huge/5mb-path',
    'huge input',
    'handled',
    { lines: [req('big-path', { path: BIG_PATH })] },
    handled(
      "decide does not model Envoy's size limits (Envoy answers 414); it decides the 5 MB path on its merits, one segment under /api/public/",
      (r) => {
        expect(r.code).toBe(0);
        expect(r.answers).toEqual([
          {
            id: 'big-path',
            outcome: 'allow',
            status: 200,
            reason: 'allowed by shop/orders',
            policies: ['shop/orders'],
          },
        ]);
      },
    ),
  ),
  row(
    'huge/20000-headers',
    'huge input',
    'handled',
    { lines: [req('many-headers', { headers: MANY_HEADERS })] },
    handled(
      "decide does not model Envoy's header limits (Envoy answers 431); the 20 000 headers are read and the request is decided",
      (r) => {
        expect(r.code).toBe(0);
        expect(r.answers.map((a) => [a.id, a.outcome, a.status])).toEqual([
          ['many-headers', 'allow', 200],
        ]);
      },
    ),
  ),
  row(
    'huge/30000-lines',
    'huge input',
    'handled',
    { lines: MANY_LINES },
    handled('a stream of 30 000 requests is answered line by line, every one, in order', (r) => {
      expect(r.code).toBe(0);
      const all = r.answers;
      expect(all).toHaveLength(30_000);
      expect(all.map((a) => a.id)).toEqual(Array.from({ length: 30_000 }, (_, i) => `l${i}`));
      expect(all.every((a) => a.outcome === 'allow' && a.status === 200)).toBe(true);
    }),
  ),
];

/** Text that means an input reached code that never expected it. */
const RAW_ERROR =
  /TypeError|Cannot read propert|is not a function|is not iterable|\[object Object\]/;
const GOOD = 'good';
const isClearError = (r: Row): r is Row & { readonly outcome: 'clear error' } =>
  r.outcome === 'clear error';
const results = new Map<string, Result>();

beforeAll(async () => {
  for (const r of rows) {
    if ('files' in r.input) {
      for (const [file, content] of Object.entries(r.input.files ?? {})) {
        writeFileSync(join(DIR, file), content);
      }
    }
  }
  // One decide stream for every row that sends lines; a malformed line is followed by a good
  // one, which must still be answered.
  const lineRows = rows.flatMap((r) => ('lines' in r.input ? [{ r, lines: r.input.lines }] : []));
  const sent = lineRows.map(({ r, lines }) =>
    r.group === 'decide lines' ? [...lines, req(GOOD)] : lines,
  );
  const argRows = rows.flatMap((r) => ('args' in r.input ? [{ r, args: r.input.args }] : []));
  const [decided, ...others] = await Promise.all([
    run(['decide', '--manifests', SHOP], `${sent.flat().join('\n')}\n`),
    ...argRows.map(({ args }) => run(args)),
  ]);
  argRows.forEach(({ r }, i) => {
    results.set(r.id, { ...others[i], answers: [], first: 0 });
  });
  const all = answers(decided);
  let next = 0;
  lineRows.forEach(({ r }, i) => {
    const count = sent[i].length;
    results.set(r.id, { ...decided, answers: all.slice(next, next + count), first: next + 1 });
    next += count;
  });
  expect(all).toHaveLength(next);
}, 120_000);

describe('bad inputs to the CLI (red-team catalog)', () => {
  test.each(rows.filter((r) => 'args' in r.input).filter(isClearError))(
    '$id: exit $code and a message naming the file or field',
    (r) => {
      const result = results.get(r.id)!;
      expect(result.code).toBe(r.code);
      expect(result[r.stream]).toMatch(r.message);
      expect(`${result.stdout}${result.stderr}`).not.toMatch(RAW_ERROR);
    },
  );

  test.each(rows.filter((r) => 'lines' in r.input).filter(isClearError))(
    '$id: answered with an error naming the field, and the next line normally',
    (r) => {
      const {
        code,
        stderr,
        answers: [answer, after],
        first,
      } = results.get(r.id)!;
      expect(code).toBe(0);
      expect(answer).toMatchObject({ id: null, outcome: 'error', status: 400 });
      const prefix = `line ${first}: `;
      expect(answer.reason.startsWith(prefix)).toBe(true);
      expect(answer.reason.slice(prefix.length)).toMatch(r.message);
      expect(stderr).toContain(`meshward decide: ${answer.reason}\n`);
      expect(answer.reason).not.toMatch(RAW_ERROR);
      expect(after).toMatchObject({ id: GOOD, outcome: 'allow', status: 200 });
    },
  );

  test.each(rows.filter((r) => r.outcome === 'handled'))('$id is handled: $reason', (r) => {
    r.check(results.get(r.id)!);
  });
});

describe('the catalog', () => {
  test('has the review’s 30 inputs: 12 to lint and the arguments, 15 decide lines, 3 huge inputs', () => {
    const count = (group: Group, review?: Review) =>
      rows.filter((r) => r.group === group && (review === undefined || r.review === review)).length;
    expect(rows).toHaveLength(30);
    expect(new Set(rows.map((r) => r.id)).size).toBe(30);
    expect([count(L), count(L, 'clear'), count(L, 'silent')]).toEqual([12, 7, 5]);
    expect([count(D), count(D, 'clear'), count(D, 'unclear'), count(D, 'silent')]).toEqual([
      15, 10, 2, 3,
    ]);
    expect([count('huge input'), count('huge input', 'handled')]).toEqual([3, 3]);
  });

  test('counts the rows by outcome today', () => {
    const count = (outcome: Outcome['outcome']) => rows.filter((r) => r.outcome === outcome).length;
    expect({ 'clear error': count('clear error'), handled: count('handled') }).toEqual({
      'clear error': 26,
      handled: 4,
    });
  });

  test('no row is silently wider: every input is a clear error or handled with a reason', () => {
    expect([...new Set(rows.map((r) => r.outcome))].sort()).toEqual(['clear error', 'handled']);
    for (const r of rows) {
      if (r.outcome === 'clear error') expect(r.message).toBeInstanceOf(RegExp);
      else expect(r.reason.trim()).not.toBe('');
    }
  });
});
