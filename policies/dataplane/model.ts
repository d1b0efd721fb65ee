/**
 * Shapes of the differential harness: the proxies istiod's generator made, the requests the
 * corpus sends, what the real Envoy answered and what `decide` said.
 */

/** One proxy of `meshward-xds serve`'s inventory (`proxies.json`). */
export interface Proxy {
  readonly name: string;
  readonly namespace: string;
  readonly kind: 'sidecar' | 'gateway';
  readonly serviceAccount: string;
  /** `spiffe://<trust domain>/ns/<ns>/sa/<sa>` */
  readonly principal: string;
  readonly podIp: string;
  readonly labels: Record<string, string>;
  readonly nodeId: string;
  /** Absolute: the proxy's folder (Envoy's working directory). */
  readonly dir: string;
  readonly bootstrap: string;
  readonly ports: readonly ProxyPort[];
}

export interface ProxyPort {
  readonly port: number;
  readonly name?: string;
  readonly protocol?: string;
  readonly targetPort?: number | string;
}

/** One client certificate of `meshward-xds serve` (`pki/clients.json`). */
export interface ClientCert {
  readonly cert: string;
  readonly key: string;
  readonly uri: string;
  readonly ca: 'mesh' | 'evil';
}

/** How a token of a case is made and where it travels. */
export interface TokenSpec {
  /** `valid`: signed by the issuer's key and current; the others are broken one way each. */
  readonly kind: 'valid' | 'expired' | 'not-yet-valid' | 'bad-signature' | 'alg-none' | 'huge';
  readonly claims: Record<string, unknown>;
  /** @default the Authorization header, `Bearer ` */
  readonly param?: string;
}

/** How the client's connection reaches the proxy. */
export type Transport =
  | { readonly kind: 'plaintext' }
  /** mTLS with a client certificate of `pki/clients.json`. */
  | { readonly kind: 'mtls'; readonly client: string }
  /** TLS without a client certificate (a sidecar refuses it). */
  | { readonly kind: 'tls-no-certificate' }
  /** TLS to a gateway's server; `sni` absent = a ClientHello without SNI. */
  | { readonly kind: 'tls'; readonly sni?: string };

/** One request of the corpus, sent to the real Envoy and translated for `decide`. */
export interface Case {
  readonly id: number;
  /** What the case exercises (`matrix`, `path`, `token`, `peer`, `port`, `when`, `sni`, ...). */
  readonly family: string;
  /** Inventory key `<namespace>/<name>` of the proxy the client connects to. */
  readonly to: string;
  /** The pod port the client connects to. */
  readonly port: number;
  readonly transport: Transport;
  /** The client's source address. */
  readonly from: string;
  readonly method: string;
  /** The request target exactly as sent (raw bytes of the request line). */
  readonly path: string;
  readonly host: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly tokens: readonly TokenSpec[];
}

/** What the real data plane answered a case. */
export interface Observation {
  readonly id: number;
  /** 0: the connection closed (or the handshake failed) without an HTTP response. */
  readonly status: number;
  /** `x-meshward-backend` of the response: the app behind the proxy answered. */
  readonly backend?: string;
  /** The gateway forwarded the request upstream (`x-envoy-upstream-service-time`). */
  readonly upstream: boolean;
  readonly body: string;
  readonly error?: string;
  /** How long the request took, connection included. */
  readonly ms?: number;
}
