import { isRecord, type K8sObject, type Manifests } from './model.js';

export interface Workload {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  /** Pod template labels. */
  readonly labels: Record<string, string>;
  /** Pod template annotations. */
  readonly annotations: Readonly<Partial<Record<string, string>>>;
  readonly serviceAccount: string;
  /** Container ports. */
  readonly ports: readonly number[];
  /** Container port number → its name, for the named ones. */
  readonly portNames: Readonly<Partial<Record<number, string>>>;
  readonly object: K8sObject | undefined;
}

export const INGRESS_GATEWAY_LABELS: Readonly<Record<string, string>> = { istio: 'ingressgateway' };
export const INGRESS_GATEWAY_PRINCIPAL =
  'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';

function podTemplate(obj: K8sObject): Record<string, unknown> | undefined {
  const spec = obj.spec;
  if (!spec) return undefined;
  if (obj.kind === 'Pod') return { metadata: obj.metadata, spec };
  if (obj.kind === 'CronJob') {
    const jt = isRecord(spec.jobTemplate) ? spec.jobTemplate : undefined;
    const js = jt && isRecord(jt.spec) ? jt.spec : undefined;
    return js && isRecord(js.template) ? js.template : undefined;
  }
  return isRecord(spec.template) ? spec.template : undefined;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'Pod']);

/** Workloads (pod templates) of the manifests, in input order. */
export function workloadsOf(m: Manifests): Workload[] {
  const out: Workload[] = [];
  for (const obj of m.objects) {
    if (!WORKLOAD_KINDS.has(obj.kind)) continue;
    const tpl = podTemplate(obj);
    if (!tpl) continue;
    const meta = isRecord(tpl.metadata) ? tpl.metadata : {};
    const spec = isRecord(tpl.spec) ? tpl.spec : {};
    const containers = Array.isArray(spec.containers) ? spec.containers.filter(isRecord) : [];
    const declared = containers.flatMap((c) =>
      Array.isArray(c.ports) ? c.ports.filter(isRecord) : [],
    );
    const ports = declared.map((p) => Number(p.containerPort)).filter((n) => Number.isInteger(n));
    const portNames: Partial<Record<number, string>> = {};
    for (const p of declared) {
      if (typeof p.name === 'string') portNames[Number(p.containerPort)] = p.name;
    }
    out.push({
      kind: obj.kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace ?? 'default',
      labels: isRecord(meta.labels) ? (meta.labels as Record<string, string>) : {},
      annotations: isRecord(meta.annotations) ? (meta.annotations as Record<string, string>) : {},
      serviceAccount:
        typeof spec.serviceAccountName === 'string' ? spec.serviceAccountName : 'default',
      ports,
      portNames,
      object: obj,
    });
  }
  return out;
}

/** The ingress gateway: from the manifests, else Istio's default install. */
export function ingressGateway(m: Manifests, rootNamespace: string): Workload {
  const found = workloadsOf(m).find((w) => w.labels.istio === 'ingressgateway');
  return (
    found ?? {
      kind: 'Deployment',
      name: 'istio-ingressgateway',
      namespace: rootNamespace,
      labels: { ...INGRESS_GATEWAY_LABELS },
      annotations: {},
      serviceAccount: 'istio-ingressgateway-service-account',
      ports: [8080, 8443],
      portNames: {},
      object: undefined,
    }
  );
}

export function principalOf(w: Workload): string {
  return `cluster.local/ns/${w.namespace}/sa/${w.serviceAccount}`;
}
