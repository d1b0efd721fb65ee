package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"istio.io/istio/pkg/spiffe"
)

// proxy is one Envoy the harness starts, for one pod. Its exported fields are its entry in
// proxies.json.
type proxy struct {
	Name           string            `json:"name"`
	Namespace      string            `json:"namespace"`
	Kind           string            `json:"kind"` // sidecar, gateway
	ServiceAccount string            `json:"serviceAccount"`
	Principal      string            `json:"principal"`
	PodIP          string            `json:"podIp"`
	Labels         map[string]string `json:"labels"`
	NodeID         string            `json:"nodeId"`
	Dir            string            `json:"dir"`
	Bootstrap      string            `json:"bootstrap"`
	Ports          []proxyPort       `json:"ports"`

	pod         *corev1.Pod
	certificate keyPair
}

type proxyPort struct {
	Port       int32  `json:"port"`
	Name       string `json:"name"`
	Protocol   string `json:"protocol"`
	TargetPort int32  `json:"targetPort"`
}

func newProxy(pod *corev1.Pod, kind, trustDomain string) *proxy {
	return &proxy{
		Name:           pod.Name,
		Namespace:      pod.Namespace,
		Kind:           kind,
		ServiceAccount: pod.Spec.ServiceAccountName,
		Principal: spiffe.Identity{
			TrustDomain: trustDomain, Namespace: pod.Namespace, ServiceAccount: pod.Spec.ServiceAccountName,
		}.String(),
		PodIP:  pod.Status.PodIP,
		Labels: maps.Clone(pod.Labels),
		pod:    pod,
	}
}

// key names the proxy's folder: <namespace>.<pod name>.
func (p *proxy) key() string { return p.Namespace + "." + p.Name }

// nodeType is the proxy type in the node ID, as pilot-agent's `proxy sidecar|router` sets it.
func (p *proxy) nodeType() string {
	if p.Kind == "gateway" {
		return "router"
	}
	return "sidecar"
}

// writeJSON writes v to path, replacing the file only once it is complete.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
