import { Construct } from 'constructs';

import {
  type ClaimFormat,
  type ClaimPath,
  claimPathError,
  KEYCLOAK_ROLES_CLAIM,
} from '../../contract/claims.js';
import { parseClaimFormat } from '../../contract/intent-env.js';
import { RequestAuthentication } from '../imports/security.istio.io.js';

import { validateName } from './validation.js';

/** An OIDC issuer whose JWTs the mesh verifies. */
export interface IJwtIssuer {
  /** The exact `iss` claim. */
  readonly issuer: string;
  readonly jwksUri: string;
  readonly audiences: readonly string[];
  /**
   * The claim that carries the user's roles, as a path: `['realm_access', 'roles']`
   * (Keycloak), `['groups']` (Okta, Entra ID groups), `['roles']` (Entra ID app roles),
   * `['https://shop.example.com/roles']` (an Auth0 namespaced claim). Routes' `roles`
   * become conditions on it; services read it as `JWT_ROLES_CLAIM`.
   * @default ['realm_access', 'roles']
   */
  readonly rolesClaim?: ClaimPath;
  /**
   * How the roles claim holds several roles: a JSON list, or one space-delimited string
   * (then listed in the RequestAuthentication's `spaceDelimitedClaims`; top-level claims only).
   * @default 'list'
   */
  readonly rolesClaimFormat?: ClaimFormat;
}

/** The issuer's roles claim, Keycloak's `realm_access.roles` unless it names another. */
export function rolesClaimOf(issuer: IJwtIssuer): ClaimPath {
  return issuer.rolesClaim ?? KEYCLOAK_ROLES_CLAIM;
}

/** Checks `rolesClaim` and `rolesClaimFormat`; throws naming the owner and the value. @internal */
export function validateRolesClaim(owner: string, issuer: IJwtIssuer): void {
  const path = rolesClaimOf(issuer);
  const error = claimPathError(path);
  if (error !== undefined) {
    throw new Error(`${owner}: 'rolesClaim' (${JSON.stringify(path)}): ${error}`);
  }
  const format = parseClaimFormat(issuer.rolesClaimFormat, `${owner}: 'rolesClaimFormat'`);
  if (format === 'space-delimited' && path.length !== 1) {
    throw new Error(
      `${owner}: a space-delimited 'rolesClaim' must be a top-level claim (got ${JSON.stringify(path)})`,
    );
  }
}

export interface JwtIssuerProps {
  /** The exact `iss` of the tokens, e.g. `https://auth.example.com/realms/shop`. */
  readonly issuer: string;
  /** Where Envoy/istiod fetch the signing keys. */
  readonly jwksUri: string;
  /** Accepted `aud` values; a valid token for another audience is refused (403). */
  readonly audiences: readonly string[];
  /**
   * Keep the `Authorization` header for the application, which reads the caller's
   * identity from it and propagates it downstream. Istio's own default strips it.
   * @default true
   */
  readonly forwardOriginalToken?: boolean;
  /** @see IJwtIssuer.rolesClaim @default ['realm_access', 'roles'] */
  readonly rolesClaim?: ClaimPath;
  /** @see IJwtIssuer.rolesClaimFormat @default 'list' */
  readonly rolesClaimFormat?: ClaimFormat;
}

/**
 * A JWT issuer trusted by the mesh. `bindTo` adds a `RequestAuthentication` to a
 * namespace (every workload in it) or to the workloads a selector picks; tokens are read
 * from the `Authorization: Bearer` header only (never from `?access_token=`). A
 * `RequestAuthentication` alone only rejects bad tokens — requests without a token
 * still pass — so access rules require the token (`requestPrincipals`).
 * @see https://istio.io/latest/docs/reference/config/security/request_authentication/
 */
export class JwtIssuer extends Construct implements IJwtIssuer {
  public readonly issuer: string;
  public readonly jwksUri: string;
  public readonly audiences: readonly string[];
  public readonly rolesClaim: ClaimPath;
  public readonly rolesClaimFormat: ClaimFormat;
  private readonly forwardOriginalToken: boolean;

  constructor(scope: Construct, id: string, props: JwtIssuerProps) {
    super(scope, id);
    const owner = `JwtIssuer '${id}'`;
    this.issuer = requireUrl(owner, 'issuer', props.issuer);
    this.jwksUri = requireJwksUri(owner, props.jwksUri);
    if (props.audiences.length === 0 || props.audiences.some((a) => a.trim() === '')) {
      throw new Error(
        `${owner}: 'audiences' must name at least one non-empty audience (got ${JSON.stringify(props.audiences)})`,
      );
    }
    this.audiences = [...props.audiences];
    validateRolesClaim(owner, props);
    this.rolesClaim = [...rolesClaimOf(props)];
    this.rolesClaimFormat = props.rolesClaimFormat ?? 'list';
    this.forwardOriginalToken = props.forwardOriginalToken ?? true;
  }

  /**
   * Verifies this issuer's tokens in `namespace`, for every workload or only those
   * whose labels match `selector`. The object is named `jwt-<id>` unless `name` is given.
   */
  public bindTo(
    namespace: string,
    options: { name?: string; selector?: Record<string, string> } = {},
  ): RequestAuthentication {
    const name = validateName(
      `JwtIssuer '${this.node.id}'`,
      'name',
      options.name ?? `jwt-${this.node.id.toLowerCase()}`,
    );
    return new IstioRequestAuthentication(this, `${namespace}-${name}`, {
      metadata: { name, namespace },
      spec: {
        ...(options.selector ? { selector: { matchLabels: options.selector } } : {}),
        jwtRules: [
          {
            issuer: this.issuer,
            jwksUri: this.jwksUri,
            audiences: [...this.audiences],
            forwardOriginalToken: this.forwardOriginalToken,
            // Only the Authorization header: without fromHeaders Envoy also reads
            // ?access_token=, which puts tokens into URLs, access logs and Referers.
            fromHeaders: [{ name: 'Authorization', prefix: 'Bearer ' }],
            ...(this.rolesClaimFormat === 'space-delimited'
              ? { spaceDelimitedClaims: [this.rolesClaim.join('.')] }
              : {}),
          },
        ],
      },
    });
  }
}

function requireUrl(owner: string, prop: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${owner}: '${prop}' ('${value}') is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`${owner}: '${prop}' ('${value}') must be an http(s) URL`);
  }
  return value;
}

/**
 * The JWKS is the root of trust of every token decision: over plain HTTP only to an
 * in-cluster Service (`<name>.<namespace>.svc[.cluster.local]`), which the proxies fetch
 * through their sidecars over mTLS (red-team M4); anywhere else, https.
 */
function requireJwksUri(owner: string, value: string): string {
  requireUrl(owner, 'jwksUri', value);
  const url = new URL(value);
  if (url.protocol === 'http:' && !/^[^.]+\.[^.]+\.svc(\.cluster\.local)?$/.test(url.hostname)) {
    throw new Error(
      `${owner}: 'jwksUri' ('${value}') is plain HTTP to '${url.hostname}', outside the cluster: ` +
        'whoever is on the path can swap the signing keys and mint any token. Use https://, or ' +
        "an in-cluster Service ('<name>.<namespace>.svc.cluster.local'), which the proxies reach over mTLS",
    );
  }
  return value;
}

/**
 * The generated class renders `jwksUri` under its proto name `jwks_uri` (the CRD has
 * both). Istio accepts either; its documentation and `istioctl` use `jwksUri`, and so
 * do the manifests meshward writes.
 */
class IstioRequestAuthentication extends RequestAuthentication {
  public override toJson(): Record<string, unknown> {
    const json = super.toJson() as { spec?: { jwtRules?: Record<string, unknown>[] } };
    for (const rule of json.spec?.jwtRules ?? []) {
      if ('jwks_uri' in rule) {
        rule.jwksUri = rule.jwks_uri;
        delete rule.jwks_uri;
      }
    }
    return json;
  }
}
