/**
 * Lint rules MW201–MW208: the realm ↔ policy contract (contract/realm-contract.ts) for every
 * issuer whose Keycloak realm is known (in the manifests, or given with `--realm`).
 */
import {
  audienceDemands,
  checkRealmContract,
  policyTokenRules,
} from '../../contract/realm-contract.js';
import { type Manifests, objectRef } from './model.js';
import { type RealmFile, realmsOf } from './realms.js';

/** One finding of the realm contract, in lint's shape. */
export interface RealmFinding {
  readonly code: string;
  readonly severity: 'error' | 'warning';
  readonly object: string;
  readonly message: string;
  readonly fix: string;
}

export function lintRealms(m: Manifests, realmFiles: readonly RealmFile[] = []): RealmFinding[] {
  const realms = realmsOf(m, realmFiles);
  if (realms.length === 0) return [];
  const rules = m.objects
    .filter((o) => o.kind === 'AuthorizationPolicy')
    .flatMap((o) => policyTokenRules({ spec: o.spec }, objectRef(o)));
  const demands = m.objects
    .filter((o) => o.kind === 'RequestAuthentication')
    .flatMap((o) => audienceDemands({ spec: o.spec }, objectRef(o)));
  return realms.flatMap((r) =>
    checkRealmContract(r.model, rules, demands, {
      onlyRealm: realms.length === 1,
      realmObject: r.source,
    }),
  );
}
