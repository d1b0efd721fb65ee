import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Yaml, type App } from 'cdk8s';
import { parseAllDocuments } from 'yaml';

/** A Kubernetes object as it stands in the synthesized YAML. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The repository root (jest runs ESM without `import.meta.dirname`). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DIST = join(ROOT, 'dist');

/** Every object of every file in dist/, in file order. */
export function loadDist(dir = DIST): KubeObject[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as KubeObject),
    );
}

/** The YAML each chart of an in-memory app would be synthesized to, by file name. */
export function synthInMemory(app: App): Map<string, string> {
  const files = new Map<string, string>();
  for (const chart of app.charts) {
    files.set(`${chart.node.id}${app.outputFileExtension}`, Yaml.stringify(...chart.toJson()));
  }
  return files;
}

export const ref = (o: KubeObject): string =>
  `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
