/** The request attributes policies match on, computed once per decision. */
export interface RequestContext {
  readonly http: boolean;
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  /** Peer identity: only over mTLS. */
  readonly principal: string | undefined;
  readonly peerNamespace: string | undefined;
  readonly peerServiceAccount: string | undefined;
  readonly trustDomain: string | undefined;
  readonly sourceIp: string | undefined;
  readonly remoteIp: string | undefined;
  readonly destinationIp: string | undefined;
  readonly sni: string | undefined;
  readonly headers: ReadonlyMap<string, string> | undefined;
  /** Set by the JWT step. */
  auth: AuthIdentity | undefined;
}

export interface AuthIdentity {
  readonly issuer: string;
  readonly subject: string;
  /** `<issuer>/<subject>`, as `requestPrincipals` match it. */
  readonly principal: string;
  readonly audiences: readonly string[];
  readonly presenter: string | undefined;
  readonly claims: Record<string, unknown>;
  readonly spaceDelimitedClaims: ReadonlySet<string>;
}

export type Check = (ctx: RequestContext) => boolean;

/** `cluster.local/ns/<ns>/sa/<sa>` → its parts. */
export function parsePrincipal(
  principal: string,
): { trustDomain: string; namespace: string; serviceAccount: string } | undefined {
  const m = /^([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(principal);
  if (!m) return undefined;
  return { trustDomain: m.at(1) ?? '', namespace: m.at(2) ?? '', serviceAccount: m.at(3) ?? '' };
}
