import type { RouteAccess } from './access.js';
import type { EgressOptions } from './egress.js';
import type { IJwtIssuer } from './jwt-issuer.js';
import type { EnvValue, WorkloadResources } from './workload.js';

/**
 * The security intent of a system, as plain data: which services exist, which routes
 * they serve, and who may call each route with which token. `MeshSystem` compiles it
 * to Kubernetes and Istio objects; `meshward matrix` checks the result against it.
 */
export interface SystemIntent {
  /** The namespace every service of the system runs in. */
  readonly namespace: string;
  /** The OIDC issuer whose tokens the routes check. @default - no token rules allowed */
  readonly issuer?: IssuerIntent;
  readonly services: readonly ServiceIntent[];
  /** Scheduled clients: identities that call services and serve nothing. @default - none */
  readonly jobs?: readonly JobIntent[];
}

/**
 * The issuer: `iss`, where its keys are, the audiences the mesh accepts and the claim that
 * carries roles (`rolesClaim`, Keycloak's `realm_access.roles` by default).
 */
export type IssuerIntent = IJwtIssuer;

export interface RouteIntent extends RouteAccess {
  /** Names of the system's services or jobs that may call the route. @default - only the gateway, if exposed */
  readonly callers?: readonly string[];
}

export interface ServiceIntent extends WorkloadResources {
  readonly name: string;
  readonly image: string;
  /** @default 8080 */
  readonly port?: number;
  /** @default 1 */
  readonly replicas?: number;
  /** Reachable through the Istio ingress gateway. @default false */
  readonly exposed?: boolean;
  readonly routes: readonly RouteIntent[];
  readonly env?: Readonly<Record<string, EnvValue>>;
  /** Give the container its route intent and roles claim (see `MeshServiceProps.intentEnv`). @default true */
  readonly intentEnv?: boolean;
  /** What the service's proxy may reach (see `MeshServiceProps.egress`). @default - only what it calls */
  readonly egress?: EgressOptions;
}

export interface JobIntent extends WorkloadResources {
  readonly name: string;
  readonly image: string;
  readonly schedule: string;
  readonly env?: Readonly<Record<string, EnvValue>>;
  /** What the job's proxy may reach (see `MeshCronJobProps.egress`). @default - only what it calls */
  readonly egress?: EgressOptions;
}
