import { Construct } from 'constructs';

import { RequestAuthentication } from '../imports/security.istio.io.js';

import { validateName } from './validation.js';

/** An OIDC issuer whose JWTs the mesh verifies. */
export interface IJwtIssuer {
  /** The exact `iss` claim. */
  readonly issuer: string;
  readonly jwksUri: string;
  readonly audiences: readonly string[];
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
}

/**
 * A JWT issuer trusted by the mesh. `bindTo` adds a `RequestAuthentication` to a
 * namespace (every workload in it) or to the workloads a selector picks. A
 * `RequestAuthentication` alone only rejects bad tokens — requests without a token
 * still pass — so access rules require the token (`requestPrincipals`).
 * @see https://istio.io/latest/docs/reference/config/security/request_authentication/
 */
export class JwtIssuer extends Construct implements IJwtIssuer {
  public readonly issuer: string;
  public readonly jwksUri: string;
  public readonly audiences: readonly string[];
  private readonly forwardOriginalToken: boolean;

  constructor(scope: Construct, id: string, props: JwtIssuerProps) {
    super(scope, id);
    const owner = `JwtIssuer '${id}'`;
    this.issuer = requireUrl(owner, 'issuer', props.issuer);
    this.jwksUri = requireUrl(owner, 'jwksUri', props.jwksUri);
    if (props.audiences.length === 0 || props.audiences.some((a) => a.trim() === '')) {
      throw new Error(
        `${owner}: 'audiences' must name at least one non-empty audience (got ${JSON.stringify(props.audiences)})`,
      );
    }
    this.audiences = [...props.audiences];
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
