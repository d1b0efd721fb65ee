/**
 * The Keycloak realms the engine knows: those in the manifests (a ConfigMap annotated
 * `meshward.io/issuer`, as the `Keycloak` construct writes it) and realm JSON files given on the
 * command line (`--realm`, e.g. an export of a running Keycloak).
 */
import { readFileSync } from 'node:fs';
import {
  decodeUserClasses,
  REALM_ISSUER_ANNOTATION,
  type RealmModel,
  realmModel,
  USER_CLASSES_ANNOTATION,
} from '../../contract/keycloak-realm.js';
import { isRecord, type Manifests, objectRef } from './model.js';

/** A realm and where it was read from. */
export interface KnownRealm {
  readonly model: RealmModel;
  /** `ConfigMap auth/keycloak-realm` or the file name. */
  readonly source: string;
}

/** A realm JSON given by the user, not found in the manifests. */
export interface RealmFile {
  readonly path: string;
  readonly json: unknown;
}

/** Reads a realm JSON file; throws naming the file. */
export function readRealmFile(path: string): RealmFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new Error(`realm file '${path}' cannot be read`);
  }
  try {
    return { path, json: JSON.parse(text) as unknown };
  } catch (e) {
    throw new Error(`realm file '${path}' is not JSON: ${(e as Error).message}`);
  }
}

/** The issuers of the manifests' RequestAuthentications. */
export function jwtIssuers(m: Manifests): string[] {
  const issuers = m.objects
    .filter((o) => o.kind === 'RequestAuthentication')
    .flatMap((o) => (Array.isArray(o.spec?.jwtRules) ? o.spec.jwtRules.filter(isRecord) : []))
    .flatMap((r) => (typeof r.issuer === 'string' ? [r.issuer] : []));
  return [...new Set(issuers)];
}

/** The realms of the manifests and of `files`, each tied to its issuer. */
export function realmsOf(m: Manifests, files: readonly RealmFile[] = []): KnownRealm[] {
  const out: KnownRealm[] = [];
  for (const cm of m.objects.filter((o) => o.kind === 'ConfigMap')) {
    const issuer = cm.metadata.annotations?.[REALM_ISSUER_ANNOTATION];
    if (issuer === undefined) continue;
    const source = objectRef(cm);
    const classesText = cm.metadata.annotations?.[USER_CLASSES_ANNOTATION];
    const classes = classesText === undefined ? [] : decodeUserClasses(classesText, source);
    const jsons = Object.entries(cm.data ?? {}).filter(([, v]) => typeof v === 'string');
    if (jsons.length === 0)
      throw new Error(`${source}: ${REALM_ISSUER_ANNOTATION} is set but the ConfigMap has no data`);
    for (const [key, text] of jsons) {
      let json: unknown;
      try {
        json = JSON.parse(String(text));
      } catch (e) {
        throw new Error(`${source}: data '${key}' is not realm JSON: ${(e as Error).message}`);
      }
      out.push({ model: realmModel(json, issuer, classes), source });
    }
  }
  const issuers = jwtIssuers(m);
  for (const file of files) {
    const name =
      isRecord(file.json) && typeof file.json.realm === 'string' ? file.json.realm : undefined;
    if (name === undefined) throw new Error(`realm file '${file.path}' has no "realm" name`);
    const matching = issuers.filter((i) => i.endsWith(`/realms/${name}`));
    if (matching.length !== 1) {
      throw new Error(
        `realm file '${file.path}' (realm '${name}'): ${
          matching.length === 0 ? 'no' : 'more than one'
        } RequestAuthentication issuer ends in /realms/${name} (issuers: ${issuers.join(', ') || 'none'})`,
      );
    }
    out.push({ model: realmModel(file.json, matching[0] ?? ''), source: file.path });
  }
  const seen = new Set<string>();
  for (const r of out) {
    if (seen.has(r.model.issuer)) {
      throw new Error(`two realms describe issuer '${r.model.issuer}' (one of them: ${r.source})`);
    }
    seen.add(r.model.issuer);
  }
  return out;
}
