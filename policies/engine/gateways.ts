/**
 * The TLS filter chains istiod builds for a gateway's listener from the Gateway resources
 * that select it: what a ClientHello's SNI must be for the connection to reach any policy.
 *
 * istiod gives every TLS server (HTTPS, or TLS) of a listener port one filter chain whose
 * `server_names` are the server's hosts without their `namespace/` prefix, none when a host
 * is `*` (`pilot/pkg/networking/core/gateway.go`). Envoy picks the chain by SNI, exact names
 * before `*.` wildcards (which stand for one or more leading labels); a ClientHello no chain
 * accepts — no SNI at all when every server names its hosts — is closed before HTTP.
 */
import { isRecord, type K8sObject, type Manifests } from './model.js';
import { subset } from './selection.js';

interface TlsServer {
  readonly gateway: string;
  /** Lower-cased; empty = accepts every SNI, including none. */
  readonly names: readonly string[];
}

export interface GatewayListeners {
  /**
   * The TLS servers of the gateway pod's listener on container port `port`; undefined when
   * no Gateway selecting the pod has a TLS server there (no SNI check applies).
   */
  tlsServers(labels: Record<string, string>, port: number): readonly TlsServer[] | undefined;
  /** True when a Gateway resource selects a pod with these labels. */
  isGateway(labels: Record<string, string>): boolean;
}

/** Service port → container port of the default `istioctl install` ingress gateway. */
const DEFAULT_INGRESS_PORTS: ReadonlyMap<number, number> = new Map([
  [80, 8080],
  [443, 8443],
]);

const TLS_PROTOCOLS = new Set(['HTTPS', 'TLS']);

export function compileGatewayListeners(manifests: Manifests): GatewayListeners {
  const gateways = manifests.objects.filter(
    (o) => o.kind === 'Gateway' && o.apiVersion.startsWith('networking.istio.io/'),
  );
  const services = manifests.objects.filter((o) => o.kind === 'Service');
  const selectorOf = (gw: K8sObject): Record<string, string> => {
    const sel = gw.spec?.selector;
    return isRecord(sel) ? (sel as Record<string, string>) : {};
  };
  const selecting = (labels: Record<string, string>) =>
    gateways.filter((gw) => subset(selectorOf(gw), labels));
  return {
    isGateway: (labels) => selecting(labels).length > 0,
    tlsServers(labels, port) {
      const out: TlsServer[] = [];
      for (const gw of selecting(labels)) {
        const servers = Array.isArray(gw.spec?.servers) ? gw.spec.servers.filter(isRecord) : [];
        for (const server of servers) {
          const p = isRecord(server.port) ? server.port : {};
          const protocol = typeof p.protocol === 'string' ? p.protocol.toUpperCase() : '';
          if (!TLS_PROTOCOLS.has(protocol) || typeof p.number !== 'number') continue;
          if (containerPort(services, labels, p.number) !== port) continue;
          const hosts = Array.isArray(server.hosts) ? server.hosts.map(String) : [];
          const bare = hosts.map((h) => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h));
          out.push({
            gateway: `${gw.metadata.namespace ?? 'default'}/${gw.metadata.name}`,
            names: bare.includes('*') ? [] : bare.map((h) => h.toLowerCase()),
          });
        }
      }
      return out.length > 0 ? out : undefined;
    },
  };
}

/** The container port a Gateway server's port number (a Service port) lands on. */
function containerPort(
  services: readonly K8sObject[],
  labels: Record<string, string>,
  number: number,
): number {
  for (const svc of services) {
    const sel = svc.spec?.selector;
    if (!isRecord(sel) || Object.keys(sel).length === 0) continue;
    if (!subset(sel as Record<string, string>, labels)) continue;
    const ports = Array.isArray(svc.spec?.ports) ? svc.spec.ports.filter(isRecord) : [];
    const hit = ports.find((sp) => sp.port === number);
    if (hit) return typeof hit.targetPort === 'number' ? hit.targetPort : number;
  }
  if (labels.istio === 'ingressgateway') return DEFAULT_INGRESS_PORTS.get(number) ?? number;
  return number;
}

/** Whether a ClientHello with this SNI (undefined = none) gets a filter chain. */
export function sniAccepted(servers: readonly TlsServer[], sni: string | undefined): boolean {
  const name = sni?.toLowerCase();
  return servers.some(
    (s) =>
      s.names.length === 0 ||
      (name !== undefined &&
        s.names.some((n) =>
          n.startsWith('*.') ? name.endsWith(n.slice(1)) && name.length > n.length - 1 : n === name,
        )),
  );
}
