package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/config/schema/resource"
	kubelib "istio.io/istio/pkg/kube"
)

// inputs are the manifests split the way istiod sees a cluster: Istio config for its config store,
// everything else for the (fake) Kubernetes API server.
type inputs struct {
	configs []config.Config
	objects []runtime.Object
	// created is the creation time of every Istio object; istiod orders some config by it.
	created time.Time
}

// loadManifests reads every manifest file under paths (files, or folders searched recursively
// for *.yaml and *.yml).
func loadManifests(paths []string) (*inputs, error) {
	in := &inputs{created: time.Now()}
	for _, p := range paths {
		files, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := in.addFile(f); err != nil {
				return nil, err
			}
		}
	}
	return in, nil
}

func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, badInput("--manifests: %v", err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	// The folder's own .yaml/.yml files, not its sub-folders: as `kubectl apply -f` and
	// meshward's engine read a folder.
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, badInput("--manifests: %v", err)
	}
	var files []string
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// objectHead is the part of a manifest every object has.
type objectHead struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func (h objectHead) String() string {
	if h.Metadata.Namespace == "" {
		return h.Kind + " " + h.Metadata.Name
	}
	return h.Kind + " " + h.Metadata.Namespace + "/" + h.Metadata.Name
}

func (in *inputs) addFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return badInput("--manifests: %v", err)
	}
	reader := kubeyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return badInput("%s: document %d is not YAML: %v", path, n, err)
		}
		if err := in.addDocument(doc); err != nil {
			return badInput("%s: document %d: %v", path, n, err)
		}
	}
}

func (in *inputs) addDocument(doc []byte) error {
	var head objectHead
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return fmt.Errorf("not a Kubernetes object: %v", err)
	}
	if head.APIVersion == "" && head.Kind == "" && head.Metadata.Name == "" {
		return nil // an empty document, or only comments
	}
	if head.Kind == "" || head.APIVersion == "" {
		return fmt.Errorf("%s has no apiVersion or kind", head)
	}
	if isIstioConfig(schema.FromAPIVersionAndKind(head.APIVersion, head.Kind)) {
		return in.addIstioConfig(head, string(doc))
	}
	obj, _, err := kubelib.IstioCodec.UniversalDeserializer().Decode(doc, nil, nil)
	if runtime.IsNotRegisteredError(err) {
		return nil // a kind no part of istiod reads
	}
	if err != nil {
		return fmt.Errorf("%s: %v", head, err)
	}
	if m, err := meta.Accessor(obj); err == nil && m.GetNamespace() == "" && !clusterScoped(head.Kind) {
		m.SetNamespace("default")
	}
	in.objects = append(in.objects, obj)
	return nil
}

// isIstioConfig tells the kinds istiod keeps in its config store. Gateway API objects are
// excluded: istiod's gateway controller reads them from the Kubernetes API, so they go there.
func isIstioConfig(k schema.GroupVersionKind) bool {
	if strings.HasPrefix(k.Group, "gateway.networking.") || strings.HasPrefix(k.Group, "inference.networking.") {
		return false
	}
	_, ok := collections.PilotGatewayAPI().FindByGroupVersionAliasesKind(resource.FromKubernetesGVK(&k))
	return ok
}

// addIstioConfig parses and validates one Istio object with Istio's own code (crd.ParseInputs,
// the path istiod's test server and `istioctl validate` take).
func (in *inputs) addIstioConfig(head objectHead, doc string) error {
	configs, _, err := crd.ParseInputs(doc)
	if err != nil {
		return fmt.Errorf("%s is invalid: %v", head, err)
	}
	for _, c := range configs {
		if c.Namespace == "" {
			c.Namespace = "default"
		}
		if c.CreationTimestamp.IsZero() {
			c.CreationTimestamp = in.created
		}
		in.configs = append(in.configs, c)
	}
	return nil
}

// clusterScoped tells the Kubernetes kinds without a namespace that a manifest may hold.
func clusterScoped(kind string) bool {
	switch kind {
	case "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "StorageClass",
		"CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
		"PriorityClass", "RuntimeClass", "IngressClass", "GatewayClass", "APIService":
		return true
	}
	return false
}

// metricsOffName names the Telemetry addMetricsOff adds.
const metricsOffName = "meshward-xds-metrics-off"

// addMetricsOff adds a mesh-wide Telemetry that disables every metric, unless the input has its
// own Telemetry in the root namespace: with metrics on, istiod emits the Istio-only `istio.stats`
// filter (the Helm chart's mesh config enables Prometheus by default).
func (in *inputs) addMetricsOff(rootNamespace string) error {
	for _, c := range in.configs {
		if c.GroupVersionKind == gvk.Telemetry && c.Namespace == rootNamespace {
			return nil
		}
	}
	head := objectHead{Kind: "Telemetry"}
	head.Metadata.Name, head.Metadata.Namespace = metricsOffName, rootNamespace
	return in.addIstioConfig(head, fmt.Sprintf(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: %s
  namespace: %s
spec:
  metrics:
    - overrides:
        - match:
            metric: ALL_METRICS
            mode: CLIENT_AND_SERVER
          disabled: true
`, metricsOffName, rootNamespace))
}

// loadMesh reads --mesh: a MeshConfig, or an IstioOperator whose spec.meshConfig is the mesh
// config. Istio's defaults are applied as istiod applies them to its mesh ConfigMap.
func loadMesh(path string) (*meshconfig.MeshConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, badInput("--mesh: %v", err)
	}
	var operator struct {
		Kind string `json:"kind"`
		Spec struct {
			MeshConfig map[string]any `json:"meshConfig"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &operator); err != nil {
		return nil, badInput("--mesh %s: not YAML: %v", path, err)
	}
	text := string(data)
	if operator.Kind == "IstioOperator" {
		meshYAML, err := yaml.Marshal(operator.Spec.MeshConfig)
		if err != nil {
			return nil, err
		}
		text = string(meshYAML)
		if operator.Spec.MeshConfig == nil {
			text = "{}"
		}
	}
	m, err := mesh.ApplyMeshConfigDefaults(text)
	if err != nil {
		return nil, badInput("--mesh %s: %v", path, err)
	}
	return m, nil
}
