import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { isRecord, type K8sObject, type Manifests } from './model.js';

/** Kinds the engine models; every other kind is ignored. */
export const MODELED_KINDS: ReadonlySet<string> = new Set([
  'AuthorizationPolicy',
  'RequestAuthentication',
  'PeerAuthentication',
  'NetworkPolicy',
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'CronJob',
  'Job',
  'Pod',
  'Service',
  'ServiceAccount',
  'Namespace',
  'VirtualService',
  // Its egress decides what a caller's own proxy can reach (sidecars.ts).
  'Sidecar',
  // Its TLS servers decide which SNI reaches the gateway's policies (gateways.ts).
  'Gateway',
  // Only those annotated with meshward.io/issuer matter: a Keycloak realm (see realms.ts).
  'ConfigMap',
]);

/**
 * The YAML files a `--manifests` path names: the file itself, or the `.yaml`/`.yml` files of
 * the folder, not its sub-folders (as `kubectl apply -f` reads a folder), sorted.
 */
export function yamlFiles(path: string): string[] {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    throw new Error(`manifest path '${path}' does not exist`);
  }
  if (!stat.isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(path, f));
}

/** Parses multi-document YAML text; `label` names the text in errors. */
export function parseManifests(text: string, label: string): K8sObject[] {
  const objects: K8sObject[] = [];
  parseAllDocuments(text).forEach((doc, index) => {
    if (doc.errors.length > 0) {
      throw new Error(
        `${label}: document ${index}: malformed YAML: ${doc.errors[0]?.message ?? ''}`,
      );
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const items =
      isRecord(value) && value.kind === 'List' && Array.isArray(value.items)
        ? value.items
        : [value];
    for (const item of items as unknown[]) {
      if (!isRecord(item) || typeof item.kind !== 'string' || !MODELED_KINDS.has(item.kind))
        continue;
      const meta = item.metadata;
      if (!isRecord(meta) || typeof meta.name !== 'string') {
        throw new Error(`${label}: document ${index}: ${item.kind} without metadata.name`);
      }
      if (item.spec !== undefined && item.spec !== null && !isRecord(item.spec)) {
        throw new Error(
          `${label}: document ${index}: ${item.kind} '${meta.name}' has a non-object spec`,
        );
      }
      objects.push({ ...(item as unknown as K8sObject), source: `${label}#${index}` });
    }
  });
  return objects;
}

/**
 * Loads YAML files or folders of YAML files (not recursive), in a stable order. `empty` lists
 * the paths that held no object the engine models (an empty file, a typo'd folder, a list of
 * scalars): a check over them proves nothing, so the CLI warns.
 */
export function loadManifests(paths: readonly string[]): Manifests & { readonly empty: string[] } {
  if (paths.length === 0) throw new Error('no manifest paths given');
  const objects: K8sObject[] = [];
  const empty: string[] = [];
  for (const path of paths) {
    const before = objects.length;
    for (const file of yamlFiles(path)) {
      objects.push(...parseManifests(readFileSync(file, 'utf8'), file));
    }
    if (objects.length === before) empty.push(path);
  }
  return { objects, empty };
}
