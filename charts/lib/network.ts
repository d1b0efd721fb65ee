import { k8s } from 'cdk8s-plus-28';

import type { IMeshIdentity } from './identity.js';

/** The labels of the pods of Istio's default ingress gateway. */
export const INGRESS_GATEWAY_POD_LABELS: Readonly<Record<string, string>> = {
  istio: 'ingressgateway',
};

/** istiod's pods (`istioctl install` and the Helm chart label them `app: istiod`). */
export const ISTIOD_PEER: k8s.NetworkPolicyPeer = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } },
  podSelector: { matchLabels: { app: 'istiod' } },
};

/**
 * The NetworkPolicy peer of a mesh identity: its namespace, and its pods — the ingress
 * gateway's by `istio: ingressgateway`, every other workload's by `app: <service account>`,
 * the label meshward gives the pods of each identity. @internal
 */
export function networkPeer(
  identity: IMeshIdentity,
  gateway: IMeshIdentity | undefined,
): k8s.NetworkPolicyPeer {
  const pods =
    identity.principal === gateway?.principal
      ? { ...INGRESS_GATEWAY_POD_LABELS }
      : { app: identity.serviceAccountName };
  return {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': identity.namespace } },
    podSelector: { matchLabels: pods },
  };
}

/** Peers deduplicated and sorted by namespace and pod labels, so the output is stable. @internal */
export function sortedPeers(peers: readonly k8s.NetworkPolicyPeer[]): k8s.NetworkPolicyPeer[] {
  const key = (p: k8s.NetworkPolicyPeer) => JSON.stringify([p.namespaceSelector, p.podSelector]);
  const unique = new Map(peers.map((p) => [key(p), p]));
  return [...unique.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, p]) => p);
}
