/**
 * Lint rule MW018: a caller's Sidecar egress leaves out a Service it calls. "Calls" is the call
 * graph the constructs render Sidecars from (contract/egress.ts): the Services whose ALLOW
 * policies name the caller's identity, and the JWKS hosts of the RequestAuthentications its proxy
 * applies. Such a call fails at the caller's own proxy (REGISTRY_ONLY: 502 or a closed
 * connection; ALLOW_ANY: plaintext, which STRICT refuses), and a JWKS it cannot reach makes every
 * token there 401.
 */
import { callGraph } from '../../contract/egress.js';
import { stringRecord } from '../../contract/json.js';
import type { CompiledManifests } from './engine.js';
import { isRecord, type K8sObject, objectRef } from './model.js';
import type { Workload } from './workloads.js';

export interface EgressFinding {
  readonly code: 'MW018';
  readonly severity: 'error';
  readonly object: string;
  readonly message: string;
  readonly fix: string;
}

export function lintEgress(
  compiled: CompiledManifests,
  workloads: readonly Workload[],
  rootNamespace: string,
): EgressFinding[] {
  const objects = compiled.manifests.objects;
  if (!objects.some((o) => o.kind === 'Sidecar')) return [];
  const graph = callGraph(objects, rootNamespace);
  const services = objects.filter((o) => o.kind === 'Service');
  const findings: EgressFinding[] = [];
  for (const w of workloads) {
    if (compiled.gateways.isGateway(w.labels)) continue;
    const callees = graph.calleesOf({
      namespace: w.namespace,
      labels: w.labels,
      serviceAccountName: w.serviceAccount,
    });
    for (const host of callees) {
      const target = serviceOf(host, services);
      if (target === undefined) continue;
      const { service, port } = target;
      const [name, namespace] = [service.metadata.name, service.metadata.namespace ?? 'default'];
      const verdict = compiled.sidecars.egress(
        {
          destination: {
            namespace,
            labels: stringRecord(service.spec?.selector),
            port: port.number,
          },
          source: {
            mtls: true,
            pod: { namespace: w.namespace, labels: w.labels },
          },
          protocol: 'http',
          host: `${name}.${namespace}.svc.cluster.local`,
        },
        false,
      );
      if (verdict.kind === 'routed') continue;
      findings.push({
        code: 'MW018',
        severity: 'error',
        object: objectRef(w.object ?? service),
        message: `${w.namespace}/${w.name} calls ${namespace}/${name} (${callReason(host, objects, w)}), but ${verdict.reason}`,
        fix: `add '${host}' to the egress hosts of Sidecar ${verdict.sidecar}`,
      });
    }
  }
  return findings;
}

/** Why the call graph says the workload calls the host: a policy naming it, or its JWKS. */
function callReason(host: string, objects: readonly K8sObject[], w: Workload): string {
  const jwks = objects.some(
    (o) =>
      o.kind === 'RequestAuthentication' &&
      (o.metadata.namespace ?? 'default') === w.namespace &&
      JSON.stringify(o.spec ?? {}).includes(`//${host.slice(host.indexOf('/') + 1)}`),
  );
  return jwks ? 'its proxy fetches the JWKS there' : 'an ALLOW policy there names its identity';
}

function serviceOf(host: string, services: readonly K8sObject[]) {
  const [namespace, fqdn] = host.split('/');
  const service = services.find(
    (s) =>
      (s.metadata.namespace ?? 'default') === namespace &&
      `${s.metadata.name}.${namespace}.svc.cluster.local` === fqdn,
  );
  const ports = Array.isArray(service?.spec?.ports) ? service.spec.ports.filter(isRecord) : [];
  const first = ports.at(0);
  if (service === undefined || first === undefined) return undefined;
  return { service, port: { number: Number(first.port) } };
}
