/**
 * The `meshward.io/routes` annotation: a workload's route intent, written by the constructs
 * on its pod template and its Service, read by the policy engine (`meshward matrix`, `lint`)
 * and by the service itself (`MESHWARD_ROUTES`, through the downward API) to enforce the same
 * rules as defence in depth. One definition for writer and readers. Imports nothing.
 *
 * Version 1:
 *
 * ```json
 * { "v": 1,
 *   "routes": [
 *     { "methods": ["GET"], "paths": ["/api/orders/admin/all"],
 *       "principals": ["cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"],
 *       "public": false,
 *       "issuer": "https://auth.shop.example.com/realms/shop", "audiences": ["shop-api"],
 *       "when": [ { "key": "request.auth.claims[realm_access][roles]", "values": ["ADMIN"] },
 *                 { "key": "request.auth.claims[scope]", "values": ["admin:read"] } ] } ] }
 * ```
 *
 * - `methods`: upper-case HTTP methods, `null` = every method. `paths`: Istio path syntax.
 * - `principals`: the mTLS identities that may call; empty = any caller.
 * - `public`: no token needed. Otherwise a valid token of `issuer` (with one of `audiences`)
 *   whose claims satisfy every `when` condition — the route's ALLOW rule's conditions, verbatim.
 */

import type { ClaimCondition } from './claims.js';
import { isObject } from './json.js';

export const ROUTES_ANNOTATION = 'meshward.io/routes';
export const ROUTES_VERSION = 1;

/** One route of a workload's intent. */
export interface RouteEntry {
  /** Upper-case methods; null = every method. */
  readonly methods: readonly string[] | null;
  readonly paths: readonly string[];
  /** mTLS principals (`cluster.local/ns/<ns>/sa/<sa>`) that may call; empty = any caller. */
  readonly principals: readonly string[];
  /** No token needed (the callers still need their identity). */
  readonly public: boolean;
  /** The issuer whose token the route requires; absent on public routes. */
  readonly issuer?: string;
  /** The audiences the issuer's RequestAuthentication accepts. */
  readonly audiences: readonly string[];
  /** The token conditions, ANDed; each accepts any of its values. */
  readonly when: readonly ClaimCondition[];
}

/** The annotation's value for `routes`. */
export function encodeRoutes(routes: readonly RouteEntry[]): string {
  return JSON.stringify({
    v: ROUTES_VERSION,
    routes: routes.map((r) => ({
      methods: r.methods,
      paths: r.paths,
      principals: r.principals,
      public: r.public,
      ...(r.issuer === undefined ? {} : { issuer: r.issuer }),
      audiences: r.audiences,
      when: r.when.map((c) => ({ key: c.key, values: c.values })),
    })),
  });
}

function strings(value: unknown, at: string): string[] {
  if (!Array.isArray(value) || value.some((x) => typeof x !== 'string')) {
    throw new Error(`${at} must be an array of strings, got ${JSON.stringify(value)}`);
  }
  return value as string[];
}

/**
 * Parses an annotation value; `owner` names the object in errors (`Deployment shop/orders`).
 * Every field is type-checked: a mistyped field is an error, never a wider route.
 */
export function parseRoutes(text: string, owner: string): RouteEntry[] {
  const where = `${owner}: ${ROUTES_ANNOTATION}`;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where} is not JSON: ${(e as Error).message}`);
  }
  if (Array.isArray(doc)) {
    throw new Error(
      `${where} is an array (the format before version 1); re-synthesize, or write {"v":1,"routes":[...]}`,
    );
  }
  if (!isObject(doc)) throw new Error(`${where} must be a JSON object {"v":1,"routes":[...]}`);
  if (doc.v !== ROUTES_VERSION) {
    throw new Error(
      `${where}: version ${JSON.stringify(doc.v)} is not supported (this meshward reads version ${ROUTES_VERSION})`,
    );
  }
  if (!Array.isArray(doc.routes)) throw new Error(`${where}.routes must be an array`);
  return doc.routes.map((r: unknown, i): RouteEntry => {
    const at = `${where}.routes[${i}]`;
    if (!isObject(r)) throw new Error(`${at} must be an object`);
    const known = ['methods', 'paths', 'principals', 'public', 'issuer', 'audiences', 'when'];
    const unknown = Object.keys(r).find((k) => !known.includes(k));
    if (unknown !== undefined) throw new Error(`${at}: unknown field '${unknown}'`);
    if (typeof r.public !== 'boolean') {
      throw new Error(`${at}.public must be true or false, got ${JSON.stringify(r.public)}`);
    }
    if (r.issuer !== undefined && typeof r.issuer !== 'string') {
      throw new Error(`${at}.issuer must be a string, got ${JSON.stringify(r.issuer)}`);
    }
    if (!r.public && r.issuer === undefined) {
      throw new Error(`${at}: a route that is not public needs 'issuer'`);
    }
    const paths = strings(r.paths, `${at}.paths`);
    if (paths.length === 0) throw new Error(`${at}.paths is empty`);
    const methods = r.methods === null ? null : strings(r.methods, `${at}.methods`);
    if (methods?.length === 0) throw new Error(`${at}.methods is empty (null = every method)`);
    const when = r.when ?? [];
    if (!Array.isArray(when)) throw new Error(`${at}.when must be an array`);
    return {
      methods,
      paths,
      principals: strings(r.principals ?? [], `${at}.principals`),
      public: r.public,
      ...(typeof r.issuer === 'string' ? { issuer: r.issuer } : {}),
      audiences: strings(r.audiences ?? [], `${at}.audiences`),
      when: when.map((c: unknown, j) => {
        const cat = `${at}.when[${j}]`;
        if (!isObject(c) || typeof c.key !== 'string') {
          throw new Error(`${cat} must be an object with a string 'key'`);
        }
        const values = strings(c.values, `${cat}.values`);
        if (values.length === 0) throw new Error(`${cat}.values is empty`);
        return { key: c.key, values };
      }),
    };
  });
}
