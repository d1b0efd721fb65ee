/** shellcheck (provisioned from Debian by scripts/integration/provision.sh) on every shell script. */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../support/manifests.js';

function shellScripts(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return shellScripts(path);
    return entry.name.endsWith('.sh') ? [path] : [];
  });
}

const scripts = [...shellScripts(join(ROOT, 'scripts')), join(ROOT, '.ci', 'run')];

describe('shellcheck', () => {
  test('finds the scripts (the list is not vacuous)', () => {
    expect(scripts.map((s) => relative(ROOT, s))).toEqual(
      expect.arrayContaining([
        'scripts/deploy.sh',
        'scripts/kind-up.sh',
        'scripts/integration/provision.sh',
        '.ci/run',
      ]),
    );
  });

  test.each(scripts.map((s) => [relative(ROOT, s), s]))(
    '%s is shellcheck-clean',
    (_name, script) => {
      const result = spawnSync('shellcheck', ['-x', script], {
        encoding: 'utf8',
        cwd: join(script, '..'),
      });
      expect(result.error).toBeUndefined();
      expect(result.stdout + result.stderr).toBe('');
      expect(result.status).toBe(0);
    },
  );
});
