/**
 * Prints the CustomResourceDefinitions of the given API groups from a multi-document
 * CRD file, keeping only the version meshward targets for each kind: `v1` where it is
 * served, otherwise the newest served version (EnvoyFilter is only `v1alpha3`).
 *
 * Usage: tsx scripts/select-crds.ts <crds.yaml> <group>...
 */
import { readFileSync } from 'node:fs';

import { parseAllDocuments, stringify } from 'yaml';

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
}
interface Crd {
  kind: string;
  spec: { group: string; versions: CrdVersion[] };
}

const [file, ...groups] = process.argv.slice(2);
if (!file || groups.length === 0) {
  console.error('usage: select-crds.ts <crds.yaml> <group>...');
  process.exit(2);
}

const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Crd | null);
const out: Crd[] = [];
for (const crd of docs) {
  if (crd?.kind !== 'CustomResourceDefinition' || !groups.includes(crd.spec.group)) continue;
  const served = crd.spec.versions.filter((v) => v.served !== false);
  const chosen = served.find((v) => v.name === 'v1') ?? served.at(0);
  if (!chosen) throw new Error(`CRD in group '${crd.spec.group}' serves no version`);
  out.push({ ...crd, spec: { ...crd.spec, versions: [{ ...chosen, storage: true }] } });
}
process.stdout.write(out.map((c) => stringify(c)).join('---\n'));
