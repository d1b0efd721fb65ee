/** The synthesized objects in dist/*.yaml, as the tests read them. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { distDir } from './tools.js';

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
  };
  readonly [field: string]: unknown;
}

export function distFiles(): string[] {
  const files = readdirSync(distDir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => join(distDir, file));
  if (files.length === 0) throw new Error(`no *.yaml in ${distDir}: run npm run synth first`);
  return files;
}

export function distObjects(): KubeObject[] {
  return distFiles().flatMap((file) =>
    parseAllDocuments(readFileSync(file, 'utf8'))
      .map((doc) => doc.toJS() as KubeObject | null)
      .filter((object): object is KubeObject => object !== null),
  );
}

export function objectsOfKind(kind: string): KubeObject[] {
  return distObjects().filter((object) => object.kind === kind);
}
