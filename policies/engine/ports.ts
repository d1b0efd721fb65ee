/**
 * How Istio treats a pod port: the protocol of the Service port that targets it (its
 * `appProtocol`, else the prefix of its name, `pkg/config/protocol`), or, for a port no Service
 * declares, a TCP passthrough (the inbound `virtualInbound` chain).
 */
import { isRecord, type Manifests } from './model.js';
import { servicesSelecting } from './selection.js';

/** Istio's protocols whose inbound chain is TCP (network RBAC; HTTP fields never match). */
const TCP_PROTOCOLS = new Set(['tcp', 'tls', 'https', 'mongo', 'redis', 'mysql']);

/**
 * 'http' for a port a Service declares with an HTTP protocol (or one Istio sniffs), 'tcp' for
 * a TCP one or a port no Service selecting the pod declares.
 */
export function portProtocol(
  manifests: Manifests,
  namespace: string,
  labels: Record<string, string>,
  port: number,
  portNames: Readonly<Partial<Record<number, string>>> = {},
): 'http' | 'tcp' {
  for (const svc of servicesSelecting(manifests, namespace, labels)) {
    for (const sp of Array.isArray(svc.spec?.ports) ? svc.spec.ports.filter(isRecord) : []) {
      const target = sp.targetPort ?? sp.port;
      const hit = typeof target === 'string' ? portNames[port] === target : Number(target) === port;
      if (!hit) continue;
      const declared =
        typeof sp.appProtocol === 'string'
          ? sp.appProtocol
          : typeof sp.name === 'string'
            ? (sp.name.split('-')[0] ?? '')
            : '';
      return TCP_PROTOCOLS.has(declared.toLowerCase()) ? 'tcp' : 'http';
    }
  }
  return 'tcp';
}
