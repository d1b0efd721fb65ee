/**
 * Istio's `Sidecar` egress, on the caller's side: which Services a proxy can route to, and what
 * it does with the rest (`outboundTrafficPolicy`). Read from pilot/pkg/model/sidecar.go and
 * pilot/pkg/networking/core/httproute.go at the pinned ISTIO_VERSION:
 *
 * - A sidecar proxy gets the Sidecar of its namespace whose `workloadSelector` matches its
 *   labels (the oldest, then by name, when several do), else the one of its namespace without
 *   a selector, else the one of the root namespace without a selector; none: every Service.
 *   Gateways never get one.
 * - An egress host is `namespace/dnsName`: `*` any namespace, `.` the Sidecar's own, `~` none;
 *   `*` any name, `*.suffix`, or the exact FQDN. A listener with a `port` serves that port only.
 * - A request to a Service the proxy cannot see: under `REGISTRY_ONLY`, HTTP to a port some
 *   visible HTTP Service listens on meets the `block_all` virtual host (a direct 502); any other
 *   port has no outbound listener, and the connection goes to the BlackHoleCluster (closed,
 *   no HTTP answer). Under `ALLOW_ANY` it passes through to the address as it is, without mTLS.
 */
import { matches } from '../../contract/egress.js';
import { stringRecord } from '../../contract/json.js';
import { type K8sObject, isRecord, type Manifests, type MeshRequest, policyName } from './model.js';

export type OutboundTrafficPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';

/** What the caller's own proxy does with a request: route it in the mesh, pass it, refuse it. */
export type EgressVerdict =
  | { readonly kind: 'routed' }
  | { readonly kind: 'passthrough'; readonly reason: string; readonly sidecar: string }
  | {
      readonly kind: 'blocked';
      readonly status: 0 | 502;
      readonly reason: string;
      readonly sidecar: string;
    };

export interface CompiledSidecars {
  readonly empty: boolean;
  /** The verdict for a request from a sidecar pod; routed when nothing scopes it. */
  egress(req: MeshRequest, sourceIsGateway: boolean): EgressVerdict;
}

interface HostPattern {
  readonly namespace: string;
  readonly name: string;
}

interface CompiledSidecar {
  readonly ref: string;
  readonly namespace: string;
  readonly selector: Record<string, string> | undefined;
  readonly listeners: readonly { readonly port?: number; readonly hosts: readonly HostPattern[] }[];
  readonly mode: OutboundTrafficPolicy | undefined;
  readonly created: string;
  readonly name: string;
}

interface ServicePort {
  readonly port: number;
  readonly targetPort: number | string;
  readonly http: boolean;
}

interface ServiceInfo {
  readonly namespace: string;
  readonly name: string;
  readonly selector: Record<string, string>;
  readonly ports: readonly ServicePort[];
}

/** Port names and app protocols Istio treats as opaque TCP (no HTTP listener for them). */
const TCP_PROTOCOL = /^(tcp|tls|mongo|mysql|redis|kafka)/i;

export function compileSidecars(
  manifests: Manifests,
  rootNamespace: string,
  meshMode: OutboundTrafficPolicy,
): CompiledSidecars {
  const sidecars = manifests.objects.filter((o) => o.kind === 'Sidecar').map(compileSidecar);
  const services = manifests.objects.filter((o) => o.kind === 'Service').map(serviceInfo);

  const sidecarFor = (namespace: string, labels: Record<string, string>) => {
    const own = sidecars
      .filter((s) => s.namespace === namespace)
      .sort((a, b) => a.created.localeCompare(b.created) || a.name.localeCompare(b.name));
    return (
      own.find((s) => s.selector !== undefined && matches(s.selector, labels)) ??
      own.find((s) => s.selector === undefined) ??
      sidecars.find((s) => s.namespace === rootNamespace && s.selector === undefined)
    );
  };

  const visible = (sidecar: CompiledSidecar, svc: ServiceInfo, port: number | undefined) => {
    const listener =
      sidecar.listeners.find((l) => l.port !== undefined && l.port === port) ??
      sidecar.listeners.find((l) => l.port === undefined);
    if (listener === undefined) return false;
    const fqdn = `${svc.name}.${svc.namespace}.svc.cluster.local`;
    return listener.hosts.some((h) => {
      const ns =
        h.namespace === '*' ||
        (h.namespace === '.' ? sidecar.namespace : h.namespace) === svc.namespace;
      if (!ns || h.namespace === '~') return false;
      if (h.name === '*') return true;
      if (h.name.startsWith('*.')) return fqdn.endsWith(h.name.slice(1));
      return h.name === fqdn;
    });
  };

  return {
    empty: sidecars.length === 0,
    egress(req, sourceIsGateway) {
      const from = req.source?.pod;
      if (from === undefined || req.source?.mtls !== true || sourceIsGateway) return ROUTED;
      const sidecar = sidecarFor(from.namespace, from.labels ?? {});
      if (sidecar === undefined) return ROUTED;
      const dest = req.destination;
      const labels = dest.labels ?? {};
      // The Services in front of the destination pod on its port; the Host header picks one.
      const fronting = services.filter(
        (s) =>
          s.namespace === dest.namespace &&
          Object.keys(s.selector).length > 0 &&
          matches(s.selector, labels) &&
          s.ports.some((p) => servesPort(p, dest.port, dest.portName)),
      );
      const host = req.host?.replace(/:\d+$/, '');
      const named = fronting.filter(
        (s) => host !== undefined && serviceNames(s, from.namespace).has(host),
      );
      const candidates = named.length > 0 ? named : fronting;
      const servicePort = (s: ServiceInfo) =>
        s.ports.find((p) => servesPort(p, dest.port, dest.portName))?.port;
      if (candidates.some((s) => visible(sidecar, s, servicePort(s)))) return ROUTED;
      const what =
        candidates.length === 0
          ? `no Service of the manifests fronts ${dest.namespace} port ${String(dest.port ?? '-')}`
          : `${candidates.map((s) => `${s.namespace}/${s.name}`).join(', ')} is not in its egress`;
      const mode = sidecar.mode ?? meshMode;
      if (mode === 'ALLOW_ANY') {
        return {
          kind: 'passthrough',
          sidecar: sidecar.ref,
          reason: `the caller's Sidecar ${sidecar.ref}: ${what}; ALLOW_ANY passes it through without mTLS`,
        };
      }
      const port = candidates.map(servicePort).find((p) => p !== undefined) ?? dest.port;
      const httpListener =
        req.protocol !== 'tcp' &&
        services.some((s) =>
          s.ports.some((p) => p.port === port && p.http && visible(sidecar, s, p.port)),
        );
      return {
        kind: 'blocked',
        sidecar: sidecar.ref,
        status: httpListener ? 502 : 0,
        reason: `refused by the caller's own proxy: Sidecar ${sidecar.ref}: ${what} (REGISTRY_ONLY: ${httpListener ? "the 'block_all' route answers 502" : 'no outbound listener on the port, the BlackHoleCluster closes the connection'})`,
      };
    },
  };
}

const ROUTED: EgressVerdict = { kind: 'routed' };

function compileSidecar(obj: K8sObject): CompiledSidecar {
  const spec = obj.spec ?? {};
  const ws = isRecord(spec.workloadSelector) ? spec.workloadSelector : undefined;
  const selector = ws && isRecord(ws.labels) ? stringRecord(ws.labels) : undefined;
  const egress = Array.isArray(spec.egress) ? spec.egress.filter(isRecord) : undefined;
  const otp = isRecord(spec.outboundTrafficPolicy) ? spec.outboundTrafficPolicy.mode : undefined;
  return {
    ref: policyName(obj),
    name: obj.metadata.name,
    namespace: obj.metadata.namespace ?? 'default',
    selector,
    // No egress at all: istiod's default, every namespace's Services.
    listeners:
      egress === undefined || egress.length === 0
        ? [{ hosts: [{ namespace: '*', name: '*' }] }]
        : egress.map((e) => ({
            port: isRecord(e.port) && typeof e.port.number === 'number' ? e.port.number : undefined,
            hosts: (Array.isArray(e.hosts) ? e.hosts : [])
              .filter((h): h is string => typeof h === 'string' && h.includes('/'))
              .map((h) => {
                const i = h.indexOf('/');
                return { namespace: h.slice(0, i), name: h.slice(i + 1) };
              }),
          })),
    mode: otp === 'REGISTRY_ONLY' || otp === 'ALLOW_ANY' ? otp : undefined,
    created: obj.metadata.creationTimestamp ?? '',
  };
}

function serviceInfo(obj: K8sObject): ServiceInfo {
  const spec = obj.spec ?? {};
  const ports = (Array.isArray(spec.ports) ? spec.ports.filter(isRecord) : []).map((p) => {
    const port = Number(p.port);
    const name = typeof p.name === 'string' ? p.name : '';
    const app = typeof p.appProtocol === 'string' ? p.appProtocol : '';
    const target = p.targetPort;
    return {
      port,
      targetPort: typeof target === 'string' ? target : typeof target === 'number' ? target : port,
      // Named or declared TCP: a listener on the cluster IP, not the HTTP one on 0.0.0.0.
      http: !TCP_PROTOCOL.test(app || name),
    };
  });
  return {
    namespace: obj.metadata.namespace ?? 'default',
    name: obj.metadata.name,
    selector: stringRecord(spec.selector),
    ports,
  };
}

/**
 * Whether a Service port leads to the destination's container port: a numeric target port
 * equal to it, a named one equal to its name; without a port name, a port number equal to it.
 */
function servesPort(p: ServicePort, port: number | undefined, portName: string | undefined) {
  if (port === undefined) return true;
  if (typeof p.targetPort === 'number') return p.targetPort === port;
  return portName === undefined ? p.port === port : p.targetPort === portName;
}

/** The names a Service answers to in an HTTP Host header, seen from a namespace. */
function serviceNames(s: ServiceInfo, from: string): Set<string> {
  const names = [
    `${s.name}.${s.namespace}`,
    `${s.name}.${s.namespace}.svc`,
    `${s.name}.${s.namespace}.svc.cluster.local`,
  ];
  if (from === s.namespace) names.push(s.name);
  return new Set(names);
}
