/** A parsed CIDR block (IPv4 or IPv6). @internal */
export interface Cidr {
  readonly text: string;
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly prefix: number;
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(text) || (text.match(/::/g) ?? []).length > 1) return undefined;
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined): string[] => (s ? s.split(':') : []);
  const left = groups(head);
  const right = groups(tail);
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right];
  let value = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    value = (value << 16n) | BigInt(`0x${g}`);
  }
  return value;
}

/**
 * Parses `a.b.c.d/n`, an IPv6 `x::y/n`, or a single address (a /32 or /128). Throws,
 * naming `owner` and the value, on anything else and on host bits set after the prefix.
 * @internal
 */
export function parseCidr(owner: string, text: string): Cidr {
  const fail = (why: string): never => {
    throw new Error(`${owner}: CIDR '${text}' ${why}`);
  };
  const pieces = text.split('/');
  if (pieces.length > 2) return fail('is not an address or CIDR block');
  const address = pieces[0];
  const length = pieces.length === 2 ? pieces[1] : undefined;
  const v4 = parseIpv4(address);
  const v6 = v4 === undefined ? parseIpv6(address) : undefined;
  if (v4 === undefined && v6 === undefined) return fail('is not an IPv4 or IPv6 address/prefix');
  const family = v4 === undefined ? 6 : 4;
  const bits = family === 4 ? 32 : 128;
  if (length !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(length)) {
    return fail(`has an invalid prefix length (must be 0-${String(bits)})`);
  }
  const prefix = length === undefined ? bits : Number(length);
  if (prefix > bits) return fail(`has an invalid prefix length (must be 0-${String(bits)})`);
  const network = (v4 ?? v6) as bigint;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((network & hostMask) !== 0n) {
    return fail(`has host bits set after /${String(prefix)}; write the network address`);
  }
  return { text, family, network, prefix };
}

/** True when one block contains the other (blocks are prefix-aligned, so that is any overlap). @internal */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const bits = a.family === 4 ? 32 : 128;
  const prefix = Math.min(a.prefix, b.prefix);
  const shift = BigInt(bits - prefix);
  return a.network >> shift === b.network >> shift;
}

/**
 * The private ranges that hold a cluster's own addresses: RFC 1918, carrier-grade NAT
 * (RFC 6598, used by some clouds' pod networks) and IPv6 unique-local (RFC 4193).
 * @internal
 */
export const PRIVATE_RANGES: readonly string[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  'fc00::/7',
];

/** True when `outer` contains every address of `inner`. @internal */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.prefix <= inner.prefix && cidrsOverlap(outer, inner);
}

/**
 * Validates an IP allowlist: each entry valid, none overlapping another, none admitting a
 * whole private range, none overlapping the cluster's own ranges (`clusterCidrs`). Behind
 * the default SNAT (a Service with `externalTrafficPolicy: Cluster`) every client arrives
 * with a node address, and pods call the gateway from the pod range: an allowlist that
 * holds them admits everyone (red-team M2).
 * @internal
 */
export function validateCidrs(
  owner: string,
  cidrs: readonly string[],
  clusterCidrs: readonly string[] = [],
): string[] {
  if (cidrs.length === 0) {
    throw new Error(
      `${owner}: 'allowedCidrs' is empty, which would refuse every client; omit it instead`,
    );
  }
  const parsed = cidrs.map((c) => parseCidr(owner, c));
  parsed.forEach((a, i) => {
    for (const b of parsed.slice(i + 1)) {
      if (cidrsOverlap(a, b)) {
        throw new Error(
          `${owner}: CIDRs '${a.text}' and '${b.text}' overlap; list each range once`,
        );
      }
    }
  });
  const cluster = clusterCidrs.map((c) => parseCidr(`${owner} clusterCidrs`, c));
  for (const entry of parsed) {
    const range = PRIVATE_RANGES.map((r) => parseCidr('PRIVATE_RANGES', r)).find((r) =>
      cidrContains(entry, r),
    );
    if (range) {
      throw new Error(
        `${owner}: 'allowedCidrs' entry '${entry.text}' admits the whole private range ` +
          `'${range.text}', which holds clusters' own node and pod addresses: behind the ` +
          `default SNAT (externalTrafficPolicy: Cluster) every client arrives with one of ` +
          `them. List the networks your clients come from (the office's, the VPN's)`,
      );
    }
    const own = cluster.find((c) => cidrsOverlap(entry, c));
    if (own) {
      throw new Error(
        `${owner}: 'allowedCidrs' entry '${entry.text}' overlaps the cluster range ` +
          `'${own.text}' (clusterCidrs): a node address (SNAT) or a pod would pass as a ` +
          `client. Leave the cluster's own ranges out of the allowlist`,
      );
    }
  }
  return [...cidrs];
}
