/**
 * Where a workload's route intent and address come from in the manifests: the
 * `meshward.io/routes` annotation (pod template, workload, or its Service) and the host its
 * callers use. Read by the matrix, its principals and lint.
 */
import { parseRoutes, type RouteEntry, ROUTES_ANNOTATION } from '../../contract/routes.js';
import { isRecord, type K8sObject, type Manifests } from './model.js';
import { servicesSelecting } from './selection.js';
import type { Workload } from './workloads.js';

/** The Services of the workload's namespace whose (non-empty) selector picks its pods. */
function servicesOf(m: Manifests, w: Workload): K8sObject[] {
  return servicesSelecting(m, w.namespace, w.labels);
}

/**
 * The workload's `meshward.io/routes` intent: from its pod template, else its own metadata,
 * else the first Service selecting it; undefined when none carries one.
 */
export function routesOf(m: Manifests, w: Workload): RouteEntry[] | undefined {
  const text =
    w.annotations[ROUTES_ANNOTATION] ??
    w.object?.metadata.annotations?.[ROUTES_ANNOTATION] ??
    servicesOf(m, w).at(0)?.metadata.annotations?.[ROUTES_ANNOTATION];
  return text === undefined ? undefined : parseRoutes(text, `${w.kind} ${w.namespace}/${w.name}`);
}

/**
 * The `:authority` callers use for the workload: the first host of a VirtualService
 * routing to one of its Services, else the cluster name of its (first) Service.
 */
export function hostOf(m: Manifests, w: Workload): string {
  const svcs = servicesOf(m, w);
  const names = new Set(
    svcs.flatMap((s) => [
      `${s.metadata.name}.${w.namespace}.svc.cluster.local`,
      `${s.metadata.name}.${w.namespace}.svc`,
      `${s.metadata.name}.${w.namespace}`,
    ]),
  );
  for (const vs of m.objects.filter((o) => o.kind === 'VirtualService')) {
    const http = Array.isArray(vs.spec?.http) ? vs.spec.http.filter(isRecord) : [];
    const routesTo = http.some((h) =>
      (Array.isArray(h.route) ? h.route.filter(isRecord) : []).some(
        (r) => isRecord(r.destination) && names.has(String(r.destination.host)),
      ),
    );
    const hosts = Array.isArray(vs.spec?.hosts) ? vs.spec.hosts.map(String) : [];
    const host = hosts.at(0);
    if (routesTo && host !== undefined) return host;
  }
  const first = svcs.at(0);
  return first
    ? `${first.metadata.name}.${w.namespace}.svc.cluster.local`
    : `${w.name}.${w.namespace}.svc.cluster.local`;
}
