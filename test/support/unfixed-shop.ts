/**
 * dist/ as it was before the fix of "any customer can read every order": the realm's
 * `admin:read` scope without role scope mappings (anyone may ask for it), and
 * GET /api/orders/admin/all guarded by that scope alone. Tests use it to show that their
 * checks catch the escalation.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIST = join(process.cwd(), 'dist');
const ROLE_CONDITION =
  /(paths:\n\s+- \/api\/orders\/admin\/all\n\s+when:\n)\s+- key: request\.auth\.claims\[realm_access\]\[roles\]\n\s+values:\n\s+- ADMIN\n/;
const ROLE_IN_ANNOTATION =
  '{"key":"request.auth.claims[realm_access][roles]","values":["ADMIN"]},{"key":"request.auth.claims[scope]"';
const SCOPE_MAPPINGS =
  /"scopeMappings": \[\n\s+\{\n\s+"clientScope": "admin:read",\n\s+"roles": \[\n\s+"ADMIN"\n\s+\]\n\s+\}\n\s+\],/;

function replaced(text: string, pattern: RegExp | string, by: string, what: string): string {
  const out = text.replace(pattern, by);
  if (out === text)
    throw new Error(`unfixed shop: ${what} not found in dist/ (did the output change?)`);
  return out;
}

/** A folder with dist/'s three files, unfixed. */
export function unfixedShopDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshward-unfixed-'));
  const read = (file: string) => readFileSync(join(DIST, file), 'utf8');
  writeFileSync(
    join(dir, 'auth.yaml'),
    replaced(
      read('auth.yaml'),
      SCOPE_MAPPINGS,
      '"scopeMappings": [],',
      'the admin:read scope mapping',
    ),
  );
  for (const file of ['shop.yaml', 'gateway.yaml']) {
    let text = replaced(read(file), ROLE_CONDITION, '$1', `the ADMIN condition in ${file}`);
    if (file === 'shop.yaml') {
      text = replaced(
        text,
        ROLE_IN_ANNOTATION,
        '{"key":"request.auth.claims[scope]"',
        'the annotated ADMIN condition',
      );
    }
    writeFileSync(join(dir, file), text);
  }
  return dir;
}
