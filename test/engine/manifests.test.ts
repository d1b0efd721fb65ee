import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadManifests, parseManifests } from '../../policies/engine/index.js';
import { shopRealm } from '../../policies/realm.js';

describe('loadManifests', () => {
  it('reads multi-document files and folders and ignores kinds it does not model', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-'));
    writeFileSync(
      join(dir, 'a.yaml'),
      'kind: Secret\nmetadata: { name: c }\n---\nkind: Namespace\nmetadata: { name: shop }\n---\n',
    );
    writeFileSync(
      join(dir, 'b.yml'),
      'kind: Service\nmetadata: { name: s, namespace: shop }\nspec: {}\n',
    );
    writeFileSync(join(dir, 'notes.txt'), 'not yaml: [');
    const m = loadManifests([dir]);
    expect(m.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/shop',
      'Service/s',
    ]);
    expect(m.objects[0]?.source).toBe(`${join(dir, 'a.yaml')}#1`);
  });

  it('throws when YAML is malformed, naming the file and document index', () => {
    expect(() =>
      parseManifests('kind: Namespace\nmetadata: { name: a }\n---\nkind: [oops\n', 'x.yaml'),
    ).toThrow(/x\.yaml: document 1: malformed YAML/);
  });

  it('throws when a path does not exist', () => {
    expect(() => loadManifests(['/nonexistent/meshward'])).toThrow(
      "manifest path '/nonexistent/meshward' does not exist",
    );
  });

  it('throws when a modeled object has no name', () => {
    expect(() => parseManifests('kind: AuthorizationPolicy\nmetadata: {}\n', 'y.yaml')).toThrow(
      'y.yaml: document 0: AuthorizationPolicy without metadata.name',
    );
  });
});

describe('the engine is generic', () => {
  it("names none of the shop realm's roles, scopes or clients in its source", () => {
    const dir = join(process.cwd(), 'policies/engine');
    const names = [
      ...shopRealm.roles.map((r) => r.name),
      ...shopRealm.clientScopes.map((s) => s.name).filter((s) => s.includes(':')),
      ...shopRealm.clients.map((c) => c.clientId),
    ];
    const mentions = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => {
        const text = readFileSync(join(dir, f), 'utf8');
        return names.filter((n) => new RegExp(`\\b${n}\\b`).test(text)).map((n) => `${f}: ${n}`);
      });
    expect(names).toEqual(expect.arrayContaining(['USER', 'ADMIN', 'admin:read', 'shop-web']));
    expect(mentions).toEqual([]);
  });
});
