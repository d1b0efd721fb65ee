/**
 * A client of the single-node cluster's ingress gateway, as an internet client is: curl from the
 * internet namespace to the gateway Service's NodePort on the node (externalTrafficPolicy Local
 * keeps the client's address), TLS with the public host names, and real
 * tokens from the in-cluster Keycloak (authorization code + PKCE through its login form, client
 * credentials), the demo users' passwords and client secrets read from the Secrets of dist/.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inInternet, inNode, kubectl, localCluster } from './local-cluster.js';

const REALM = 'https://auth.shop.example.com/realms/shop';
const TOKEN_URL = `${REALM}/protocol/openid-connect/token`;

export interface GatewayAnswer {
  readonly code: string;
  /**
   * curl's exit status, where it was recorded: 7 the connection refused, 28 no answer in time
   * (a connection a NetworkPolicy drops), 56/52 reset or closed after connecting
   */
  readonly exit?: number;
  /** the first 40 characters of the body, line breaks removed ('' for HEAD) */
  readonly body: string;
  /** content-type, content-length and www-authenticate, as "name: value;" */
  readonly headers: string;
}

function readIfThere(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The response headers that tell an Envoy local reply from the application's answer. */
export function summaryHeaders(raw: string): string {
  return raw
    .split(/\r?\n/)
    .filter((line) => /^(content-type|content-length|www-authenticate):/i.test(line))
    .map((line) => `${line.toLowerCase()};`)
    .join('');
}

/**
 * What an answer means, in the matrix's words: unreachable (curl's exit 7 or 28 without an HTTP
 * status: the connection refused or never answered; or the caller's own sidecar answering 503
 * that it could not connect upstream), a reset
 * (no HTTP answer otherwise), blocked (the caller's own sidecar's empty 502: its Sidecar egress
 * does not list the host), Envoy's RBAC denial
 * (403 "RBAC: access denied", for HEAD its 19-byte text/plain length), Envoy's jwt_authn refusal
 * (401 "Jwt ..." or its `www-authenticate: Bearer realm=...`), else the request was allowed
 * through the mesh (whatever the application then answers).
 */
export function outcomeOf(answer: GatewayAnswer): string {
  if (/^0+$/.test(answer.code))
    return answer.exit === 7 || answer.exit === 28 ? 'unreachable' : 'reset';
  if (answer.code === '503' && answer.body.startsWith('upstream connect error'))
    return 'unreachable';
  // The caller's own sidecar, its Sidecar egress not listing the host (REGISTRY_ONLY): the
  // `block_all` route's direct 502, without a body (no application of meshward answers 502).
  if (answer.code === '502' && answer.body === '') return 'blocked';
  const envoyText = answer.headers.includes('content-type: text/plain');
  if (
    answer.code === '403' &&
    (answer.body.startsWith('RBAC: access denied') ||
      (answer.body === '' && envoyText && answer.headers.includes('content-length: 19;')))
  ) {
    return 'deny';
  }
  if (
    answer.code === '401' &&
    (answer.body.startsWith('Jwt') || answer.headers.includes('www-authenticate: bearer realm='))
  ) {
    return 'unauthenticated';
  }
  return 'allow';
}

export class GatewayClient {
  readonly address: string;
  readonly port: number;
  /** the address the client sends from (`request`'s SOURCE overrides it) */
  readonly source: string | undefined;
  private readonly via: 'internet' | 'node';
  private readonly headers: readonly string[];
  private readonly work = mkdtempSync(join(tmpdir(), 'meshward-gateway-'));
  private jars = 0;

  /**
   * From the internet namespace to the gateway Service's NodePort for 443, from the office
   * address (inside dist/'s IP allowlist) by default. `{ via: 'node' }` connects from the
   * node's own namespace to the Service's ClusterIP, as a pod or a process on a node does:
   * kube-proxy then rewrites the client to the node's bridge address.
   */
  constructor(
    options: {
      via?: 'internet' | 'node';
      source?: string;
      /** `Name: value` headers sent with every request, the login's too */
      headers?: readonly string[];
    } = {},
  ) {
    this.via = options.via ?? 'internet';
    this.headers = options.headers ?? [];
    const get = (what: string, path: string) =>
      kubectl(['-n', 'istio-system', 'get', what, '-o', `jsonpath=${path}`]);
    if (this.via === 'internet') {
      this.address = localCluster.nodeIp;
      this.port = Number(
        get('service/istio-ingressgateway', '{.spec.ports[?(@.port==443)].nodePort}'),
      );
      this.source = options.source ?? localCluster.officeIp;
    } else {
      this.address = get('service/istio-ingressgateway', '{.spec.clusterIP}');
      this.port = 443;
      this.source = options.source;
    }
    if (!Number.isInteger(this.port) || this.port <= 0) {
      throw new Error(`the gateway Service has no port for 443 (${String(this.port)})`);
    }
  }

  close(): void {
    rmSync(this.work, { recursive: true, force: true });
  }

  /** curl with every host name sent to the gateway; stdout. */
  curl(args: readonly string[], source = this.source): string {
    const run = this.via === 'internet' ? inInternet : inNode;
    return run('curl', [
      '-sk',
      '--max-time',
      '10',
      '--connect-to',
      `::${this.address}:${String(this.port)}`,
      ...(source === undefined ? [] : ['--interface', source]),
      ...this.headers.flatMap((h) => ['-H', h]),
      ...args,
    ]).stdout;
  }

  /**
   * One request at https://SNI/PATH with the Host header HOST (an internet client can only
   * name a server name the gateway serves in TLS, but any Host). A 429 from the gateway's rate
   * limits is waited out and retried. SOURCE: the client address to send from instead (an
   * address of the client's namespace).
   */
  request(
    method: string,
    sni: string,
    host: string,
    path: string,
    token?: string,
    source?: string,
  ): GatewayAnswer {
    const body = join(this.work, 'body');
    const headers = join(this.work, 'headers');
    for (let attempt = 0; ; attempt += 1) {
      rmSync(body, { force: true });
      rmSync(headers, { force: true });
      const args = ['-D', headers, '-o', body, '-w', '%{http_code}', '-H', `Host: ${host}`];
      args.push(...(method === 'HEAD' ? ['--head'] : ['-X', method]));
      if (token !== undefined) args.push('-H', `Authorization: Bearer ${token}`);
      const code = this.curl([...args, `https://${sni}${path}`], source ?? this.source).trim();
      const answer = {
        code,
        body:
          method === 'HEAD'
            ? ''
            : readIfThere(body)
                .slice(0, 40)
                .replace(/[\r\n]/g, ''),
        headers: summaryHeaders(readIfThere(headers)),
      };
      if (code !== '429' || attempt >= 8) return answer;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1200);
    }
  }

  /** Authorization code + PKCE through Keycloak's real login form. */
  pkceToken(
    user: string,
    password: string,
    client: string,
    scopes: readonly string[] = [],
  ): string {
    const verifier = execFileSync('openssl', ['rand', '-hex', '32'], { encoding: 'utf8' }).trim();
    const challenge = Buffer.from(
      execFileSync('openssl', ['dgst', '-binary', '-sha256'], { input: verifier }),
    ).toString('base64url');
    this.jars += 1;
    const jar = join(this.work, `jar-${String(this.jars)}`);
    const redirect = 'https://shop.example.com/callback';
    const scope = encodeURIComponent(['openid', ...scopes].join(' '));
    const page = this.curl([
      '-c',
      jar,
      `${REALM}/protocol/openid-connect/auth?client_id=${client}&response_type=code&scope=${scope}&redirect_uri=${redirect}&code_challenge=${challenge}&code_challenge_method=S256`,
    ]);
    const action = /action="([^"]+)"/.exec(page)?.[1]?.replaceAll('&amp;', '&');
    if (action === undefined) throw new Error(`no login form for ${user}: ${page.slice(0, 200)}`);
    const location = this.curl([
      '-b',
      jar,
      '-c',
      jar,
      '-o',
      '/dev/null',
      '-w',
      '%{redirect_url}',
      '--data-urlencode',
      `username=${user}`,
      '--data-urlencode',
      `password=${password}`,
      action,
    ]);
    const code = new URL(location || 'https://invalid/').searchParams.get('code');
    if (code === null) throw new Error(`login of ${user} gave no code (${location})`);
    return accessToken(
      this.curl([
        '-d',
        'grant_type=authorization_code',
        '-d',
        `client_id=${client}`,
        '-d',
        `code=${code}`,
        '-d',
        `redirect_uri=${redirect}`,
        '-d',
        `code_verifier=${verifier}`,
        TOKEN_URL,
      ]),
      user,
    );
  }

  clientToken(client: string, secret: string): string {
    return accessToken(
      this.curl([
        '-d',
        'grant_type=client_credentials',
        '-d',
        `client_id=${client}`,
        '--data-urlencode',
        `client_secret=${secret}`,
        TOKEN_URL,
      ]),
      client,
    );
  }
}

function accessToken(answer: string, who: string): string {
  const token = /"access_token":"([^"]+)"/.exec(answer)?.[1];
  if (token === undefined) throw new Error(`no token for ${who}: ${answer.slice(0, 200)}`);
  return token;
}

export function secretValue(namespace: string, name: string, key: string): string {
  const value = kubectl(['-n', namespace, 'get', 'secret', name, '-o', `jsonpath={.data.${key}}`]);
  return Buffer.from(value, 'base64').toString('utf8');
}
