import { isRecord, type K8sObject, type Manifests } from './model.js';

/** Label selection as Istio's `selector.matchLabels` does it: every key equal. */
export function subset(sel: Record<string, string>, labels: Record<string, string>): boolean {
  for (const k in sel) if (labels[k] !== sel[k]) return false;
  return true;
}

/** The Services of `namespace` whose (non-empty) selector picks pods with these labels. */
export function servicesSelecting(
  m: Manifests,
  namespace: string,
  labels: Record<string, string>,
): K8sObject[] {
  return m.objects.filter((s) => {
    const sel = s.kind === 'Service' ? s.spec?.selector : undefined;
    return (
      (s.metadata.namespace ?? 'default') === namespace &&
      isRecord(sel) &&
      Object.keys(sel).length > 0 &&
      subset(sel as Record<string, string>, labels)
    );
  });
}
