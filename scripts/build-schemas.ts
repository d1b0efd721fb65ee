/**
 * Writes the upstream JSON schemas the tests validate synthesized objects against:
 *   schemas/kubernetes.json  OpenAPI v3 definitions of the Kubernetes API groups meshward emits
 *                            (from k8s.io/kubernetes api/openapi-spec/v3), only the closure the
 *                            kinds need, keyed by group/version/kind
 *   schemas/istio.json       the openAPIV3Schema of every served version of the Istio CRDs
 *                            (from istio.io/api kubernetes/customresourcedefinitions.gen.yaml)
 * The files are copied as upstream wrote them; the test helper adds strictness on load.
 *
 * Usage: tsx scripts/build-schemas.ts <openapi-v3-dir> <crds.yaml> <k8s-version> <istio-version>
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseAllDocuments } from 'yaml';

/** The Kubernetes API group files meshward's constructs emit objects from. */
const GROUP_FILES = [
  'api__v1_openapi.json',
  'apis__apps__v1_openapi.json',
  'apis__batch__v1_openapi.json',
  'apis__policy__v1_openapi.json',
  'apis__networking.k8s.io__v1_openapi.json',
  'apis__rbac.authorization.k8s.io__v1_openapi.json',
  'apis__autoscaling__v2_openapi.json',
];

type Json = Record<string, unknown>;
interface Gvk {
  group: string;
  version: string;
  kind: string;
}

const [openapiDir, crdFile, k8sVersion, istioVersion] = process.argv.slice(2);
if (!openapiDir || !crdFile || !k8sVersion || !istioVersion) {
  console.error(
    'usage: build-schemas.ts <openapi-v3-dir> <crds.yaml> <k8s-version> <istio-version>',
  );
  process.exit(2);
}

const all: Record<string, Json> = {};
for (const file of GROUP_FILES) {
  const doc = JSON.parse(readFileSync(join(openapiDir, file), 'utf8')) as {
    components: { schemas: Record<string, Json> };
  };
  Object.assign(all, doc.components.schemas);
}

const kinds: Record<string, string> = {};
for (const [name, schema] of Object.entries(all)) {
  const gvks = schema['x-kubernetes-group-version-kind'] as Gvk[] | undefined;
  if (
    !gvks ||
    gvks.length !== 1 ||
    name.endsWith('List') ||
    !('metadata' in ((schema.properties as Json | undefined) ?? {}))
  )
    continue;
  const [gvk] = gvks as [Gvk];
  if (!name.startsWith('io.k8s.api.')) continue;
  kinds[`${gvk.group ? `${gvk.group}/` : ''}${gvk.version}/${gvk.kind}`] = name;
}

const needed = new Set<string>();
const visit = (node: unknown): void => {
  if (Array.isArray(node)) {
    node.forEach(visit);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string') {
      const name = value.replace('#/components/schemas/', '');
      if (!needed.has(name)) {
        needed.add(name);
        visit(all[name]);
      }
    } else visit(value);
  }
};
for (const name of Object.values(kinds)) {
  needed.add(name);
  visit(all[name]);
}
const definitions: Record<string, unknown> = {};
for (const name of [...needed].sort()) definitions[name] = all[name];

const sortedKinds = Object.fromEntries(
  Object.entries(kinds).sort(([a], [b]) => a.localeCompare(b)),
);
mkdirSync('schemas', { recursive: true });
writeFileSync(
  'schemas/kubernetes.json',
  JSON.stringify({
    source: `k8s.io/kubernetes@${k8sVersion} api/openapi-spec/v3`,
    kinds: sortedKinds,
    definitions,
  }) + '\n',
);

interface Crd {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; served?: boolean; schema?: { openAPIV3Schema: unknown } }[];
  };
}
const istioKinds: Record<string, unknown> = {};
for (const doc of parseAllDocuments(readFileSync(crdFile, 'utf8'))) {
  const crd = doc.toJS() as Crd | null;
  if (crd?.kind !== 'CustomResourceDefinition') continue;
  for (const v of crd.spec.versions) {
    if (v.served === false || !v.schema) continue;
    istioKinds[`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`] = v.schema.openAPIV3Schema;
  }
}
writeFileSync(
  'schemas/istio.json',
  JSON.stringify({
    source: `istio.io/api@${istioVersion} kubernetes/customresourcedefinitions.gen.yaml`,
    kinds: istioKinds,
  }) + '\n',
);
console.log(
  `schemas/kubernetes.json: ${Object.keys(sortedKinds).length} kinds, ${needed.size} definitions; schemas/istio.json: ${Object.keys(istioKinds).length} kinds`,
);
