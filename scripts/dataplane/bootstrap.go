package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"istio.io/api/annotation"
	meshconfig "istio.io/api/mesh/v1alpha1"
	pilotmodel "istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/bootstrap"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/mesh"
	commonfeatures "istio.io/istio/pkg/features"
	"istio.io/istio/pkg/model"
	"istio.io/istio/pkg/security"
)

// The ports pilot-agent gives Envoy by default (ENVOY_STATUS_PORT, ENVOY_PROMETHEUS_PORT).
const (
	envoyStatusPort     = 15021
	envoyPrometheusPort = 15090
)

// The bootstrap template: pilot-agent reads tools/packaging/common/envoy_bootstrap.json of
// istio.io/istio from ./var/lib/istio/envoy/ in its image; provision.sh copies it next to the
// binary.
const templateFromBinary = "../share/envoy_bootstrap_tmpl.json"

// bootstrapTemplate finds the template provision.sh installed with the binary.
func bootstrapTemplate() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", err
	}
	path := filepath.Join(filepath.Dir(exe), templateFromBinary)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no Envoy bootstrap template at %s: copy tools/packaging/common/envoy_bootstrap.json "+
			"of the istio.io/istio module there (scripts/integration/provision.sh dataplane does)", path)
	}
	return path, nil
}

// writeBootstrap writes p's Envoy bootstrap to p.Bootstrap with pilot-agent's own code
// (istio.io/istio/pkg/bootstrap), from the node metadata pilot-agent would build in p's pod.
func writeBootstrap(p *proxy, m *meshconfig.MeshConfig, template string) error {
	node, err := nodeMetadata(p, m)
	if err != nil {
		return fmt.Errorf("proxy %s: node metadata: %v", p.key(), err)
	}
	var out bytes.Buffer
	err = bootstrap.New(bootstrap.Config{Node: node, CompliancePolicy: commonfeatures.CompliancePolicy}).WriteTo(template, &out)
	if err != nil {
		return fmt.Errorf("proxy %s: bootstrap: %v", p.key(), err)
	}
	if !json.Valid(out.Bytes()) {
		return fmt.Errorf("proxy %s: the bootstrap template rendered invalid JSON", p.key())
	}
	p.NodeID = node.ID
	return writeFile(p.Bootstrap, out.Bytes())
}

// nodeMetadata is what pilot-agent's generateNodeMetadata returns in p's pod: its environment as
// the sidecar injector (or the gateway chart) sets it, and the pod labels and annotations it reads
// from the downward API files.
func nodeMetadata(p *proxy, m *meshconfig.MeshConfig) (*model.Node, error) {
	proxyConfig, err := podProxyConfig(p, m)
	if err != nil {
		return nil, err
	}
	var pilotSAN []string
	if proxyConfig.ControlPlaneAuthPolicy == meshconfig.AuthenticationPolicy_MUTUAL_TLS {
		pilotSAN = []string{strings.Split(proxyConfig.DiscoveryAddress, ":")[0]}
	}
	node, err := bootstrap.GetNodeMetaData(bootstrap.MetadataOptions{
		ID:                         strings.Join([]string{p.nodeType(), p.PodIP, p.Name + "." + p.Namespace, p.Namespace + ".svc." + constants.DefaultClusterLocalDomain}, "~"),
		Envs:                       podEnvironment(p, m, proxyConfig),
		InstanceIPs:                []string{p.PodIP},
		ProxyConfig:                proxyConfig,
		PilotSubjectAltName:        pilotSAN,
		EnvoyStatusPort:            envoyStatusPort,
		EnvoyPrometheusPort:        envoyPrometheusPort,
		WorkloadIdentitySocketFile: security.DefaultWorkloadIdentitySocketFile,
	})
	if err != nil {
		return nil, err
	}
	// pilot-agent reads these from /etc/istio/pod/{labels,annotations}
	node.Metadata.Labels = map[string]string{}
	for k, v := range p.pod.Labels {
		if k != bootstrap.DefaultDeploymentUniqueLabelKey {
			node.Metadata.Labels[k] = v
		}
	}
	if len(p.pod.Annotations) > 0 {
		node.Metadata.Annotations = p.pod.Annotations
	}
	return node, nil
}

// podProxyConfig is the ProxyConfig pilot-agent ends up with: the mesh's defaultConfig (which the
// injector passes in PROXY_CONFIG, and the gateway reads from the mounted mesh config), merged with
// the pod's proxy.istio.io/config annotation.
func podProxyConfig(p *proxy, m *meshconfig.MeshConfig) (*meshconfig.ProxyConfig, error) {
	pc := mesh.DefaultProxyConfig()
	if m.GetDefaultConfig() != nil {
		pc = proto.Clone(m.GetDefaultConfig()).(*meshconfig.ProxyConfig)
	}
	annotations := p.pod.Annotations
	if overlay := annotations[annotation.ProxyConfig.Name]; overlay != "" {
		merged, err := mesh.MergeProxyConfig(overlay, pc)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %v", annotation.ProxyConfig.Name, err)
		}
		pc = merged
	}
	if c, ok := pc.ClusterName.(*meshconfig.ProxyConfig_ServiceCluster); ok && c.ServiceCluster == "" {
		pc.ClusterName = &meshconfig.ProxyConfig_ServiceCluster{ServiceCluster: constants.ServiceClusterName}
	}
	if v, ok := annotations[annotation.SidecarDiscoveryAddress.Name]; ok {
		pc.DiscoveryAddress = v
	}
	if v, ok := annotations[annotation.SidecarStatusPort.Name]; ok {
		port, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %v", annotation.SidecarStatusPort.Name, err)
		}
		pc.StatusPort = int32(port)
	}
	return pc, nil
}

// podEnvironment is the istio-proxy container's environment, as far as node metadata reads it
// (PROXY_CONFIG is podProxyConfig):
// manifests/charts/istio-control/istio-discovery/files/injection-template.yaml for sidecars,
// manifests/charts/gateways/istio-ingress/templates/deployment.yaml for the gateway.
func podEnvironment(p *proxy, m *meshconfig.MeshConfig, pc *meshconfig.ProxyConfig) []string {
	owner := p.pod.Name
	ownerKind := "pods"
	for _, ref := range p.pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			owner, ownerKind = ref.Name, strings.ToLower(ref.Kind)+"s"
		}
	}
	env := []string{
		"POD_NAME=" + p.Name,
		"POD_NAMESPACE=" + p.Namespace,
		"INSTANCE_IP=" + p.PodIP,
		"SERVICE_ACCOUNT=" + p.ServiceAccount,
		"ISTIO_META_CLUSTER_ID=" + constants.DefaultClusterName,
		"ISTIO_META_WORKLOAD_NAME=" + owner,
		fmt.Sprintf("ISTIO_META_OWNER=kubernetes://apis/apps/v1/namespaces/%s/%s/%s", p.Namespace, ownerKind, owner),
		"ISTIO_META_MESH_ID=" + m.GetTrustDomain(),
		"TRUST_DOMAIN=" + m.GetTrustDomain(),
	}
	if p.Kind == "gateway" {
		return append(env, "ISTIO_META_UNPRIVILEGED_POD=true")
	}
	var ports []json.RawMessage
	var containers []string
	for _, c := range p.pod.Spec.Containers {
		if c.Name == "istio-proxy" {
			continue
		}
		containers = append(containers, c.Name)
		for _, port := range c.Ports {
			j, _ := json.Marshal(port)
			ports = append(ports, j)
		}
	}
	podPorts, _ := json.Marshal(ports)
	interception := pc.GetInterceptionMode().String()
	if v, ok := p.pod.Annotations[annotation.SidecarInterceptionMode.Name]; ok {
		interception = v
	}
	return append(env,
		"ISTIO_META_POD_PORTS="+string(podPorts),
		"ISTIO_META_APP_CONTAINERS="+strings.Join(containers, ","),
		"ISTIO_META_INTERCEPTION_MODE="+interception,
	)
}

// proxyModel is the model.Proxy istiod makes of p's bootstrap node when p connects (ads.go
// initProxyMetadata), made ready for config generation by the test server's SetupProxy.
func proxyModel(p *proxy) (*pilotmodel.Proxy, error) {
	data, err := os.ReadFile(p.Bootstrap)
	if err != nil {
		return nil, err
	}
	var b struct {
		Node struct {
			ID       string         `json:"id"`
			Metadata map[string]any `json:"metadata"`
		} `json:"node"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, err
	}
	st, err := structpb.NewStruct(b.Node.Metadata)
	if err != nil {
		return nil, err
	}
	meta, err := pilotmodel.ParseMetadata(st)
	if err != nil {
		return nil, err
	}
	proxy, err := pilotmodel.ParseServiceNodeWithMetadata(b.Node.ID, meta)
	if err != nil {
		return nil, err
	}
	proxy.ConfigNamespace = pilotmodel.GetProxyConfigNamespace(proxy)
	return proxy, nil
}
