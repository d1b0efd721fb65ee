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

export interface JwtRule {
  readonly issuer: string;
  readonly audiences?: readonly string[];
  readonly jwksUri?: string;
  readonly forwardOriginalToken?: boolean;
  readonly fromHeaders?: readonly { readonly name: string; readonly prefix?: string }[];
}

/** The jwtRules of the RequestAuthentications in `namespace` (all namespaces when omitted). */
export function jwtRules(namespace?: string): JwtRule[] {
  return objectsOfKind('RequestAuthentication')
    .filter((ra) => namespace === undefined || ra.metadata.namespace === namespace)
    .flatMap((ra) => (ra.spec as { jwtRules?: JwtRule[] } | undefined)?.jwtRules ?? []);
}

interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly fieldRef?: { readonly fieldPath?: string } };
}

/** `metadata.annotations['<key>']`, the downward-API field path of one annotation. */
const ANNOTATION_FIELD = /^metadata\.annotations\['([^']+)'\]$/;

/**
 * The environment a Deployment's first container gets: literal `value`s, and the pod
 * template's annotations that `valueFrom.fieldRef` names (the downward API, e.g.
 * MESHWARD_ROUTES from `meshward.io/routes`). Other `valueFrom` sources are left out.
 */
export function deploymentEnv(namespace: string, name: string): Record<string, string> {
  const deployment = objectsOfKind('Deployment').find(
    (d) => d.metadata.namespace === namespace && d.metadata.name === name,
  );
  if (deployment === undefined) throw new Error(`dist/ has no Deployment ${namespace}/${name}`);
  const spec = deployment.spec as {
    template: {
      metadata?: { annotations?: Record<string, string | undefined> };
      spec: { containers: { env?: EnvVar[] }[] };
    };
  };
  const annotations = spec.template.metadata?.annotations ?? {};
  const env: Record<string, string> = {};
  for (const variable of spec.template.spec.containers[0]?.env ?? []) {
    if (variable.value !== undefined) {
      env[variable.name] = variable.value;
      continue;
    }
    const field = ANNOTATION_FIELD.exec(variable.valueFrom?.fieldRef?.fieldPath ?? '')?.[1];
    if (field === undefined) continue;
    const annotation = annotations[field];
    if (annotation === undefined) {
      throw new Error(
        `Deployment ${namespace}/${name}: ${variable.name} reads the pod annotation '${field}', which is not set`,
      );
    }
    env[variable.name] = annotation;
  }
  return env;
}

interface AuthorizationRule {
  readonly from?: readonly { readonly source?: { readonly requestPrincipals?: string[] } }[];
  readonly when?: readonly { readonly key: string; readonly values?: string[] }[];
}

function authorizationRules(): AuthorizationRule[] {
  return objectsOfKind('AuthorizationPolicy').flatMap(
    (ap) => (ap.spec as { rules?: AuthorizationRule[] } | undefined)?.rules ?? [],
  );
}

/** The `values` the AuthorizationPolicies' `when` conditions on `key` accept, deduplicated. */
export function whenValues(key: string): string[] {
  const values = authorizationRules().flatMap((rule) =>
    (rule.when ?? []).filter((w) => w.key === key).flatMap((w) => w.values ?? []),
  );
  return [...new Set(values)];
}

/** Every `requestPrincipals` pattern of the AuthorizationPolicies, deduplicated. */
export function requestPrincipalPatterns(): string[] {
  const patterns = authorizationRules().flatMap((rule) =>
    (rule.from ?? []).flatMap((f) => f.source?.requestPrincipals ?? []),
  );
  return [...new Set(patterns)];
}
