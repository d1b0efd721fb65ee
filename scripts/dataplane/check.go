package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"istio.io/istio/pilot/pkg/networking/util"
	labelutil "istio.io/istio/pilot/pkg/serviceregistry/util/label"
	"istio.io/istio/pilot/test/xds"
)

// istioOnlyMarkers are names and type URLs of the Envoy extensions only Istio's Envoy build has
// (envoyproxy/envoy contrib/istio): istio.metadata_exchange (network, HTTP and cluster filter),
// istio.stats, istio.alpn and their config types.
var istioOnlyMarkers = []string{
	"istio.metadata_exchange", "istio.stats", "istio.alpn", "stats.PluginConfig", "io.istio.",
	"envoy.tcp.metadataexchange", "peer_metadata",
}

// xdsResources are one proxy's listeners, clusters, routes and endpoints as istiod generates them.
type xdsResources struct {
	byType map[string][]proto.Message // LDS, CDS, RDS, EDS
}

// sizes are the bytes of each xDS type's resources in protobuf wire encoding (what istiod sends),
// with their count.
func (r *xdsResources) sizes() map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, t := range xdsTypes {
		bytes := 0
		for _, m := range r.byType[t.name] {
			bytes += proto.Size(m)
		}
		out[t.name] = map[string]int{"bytes": bytes, "resources": len(r.byType[t.name])}
	}
	return out
}

var xdsTypes = []struct{ name, file string }{
	{"LDS", "listeners"}, {"CDS", "clusters"}, {"RDS", "routes"}, {"EDS", "endpoints"},
}

// generate builds p's LDS, CDS and RDS with istiod's config generator, for the model.Proxy istiod
// makes of p's bootstrap node when p connects (ads.go initProxyMetadata, computeProxyState).
func generate(istiod *xds.FakeDiscoveryServer, p *proxy) (*xdsResources, error) {
	model, err := proxyModel(p)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %v", p.key(), err)
	}
	model.SetWorkloadLabels(istiod.Env())
	model.Locality = &core.Locality{} // no topology labels on the pods, none in the bootstrap
	model.Labels = labelutil.AugmentLabels(model.Labels, model.Metadata.ClusterID,
		util.LocalityToString(model.Locality), model.GetNodeName(), model.Metadata.Network)
	model = istiod.SetupProxy(model) // service targets, sidecar scope, gateways
	r := &xdsResources{byType: map[string][]proto.Message{}}
	listeners := istiod.Listeners(model)
	for _, l := range listeners {
		r.byType["LDS"] = append(r.byType["LDS"], l)
	}
	for _, c := range istiod.Clusters(model) {
		r.byType["CDS"] = append(r.byType["CDS"], c)
	}
	for _, rc := range istiod.RoutesFromListeners(model, listeners) {
		r.byType["RDS"] = append(r.byType["RDS"], rc)
	}
	for _, e := range istiod.Endpoints(model) {
		r.byType["EDS"] = append(r.byType["EDS"], e)
	}
	return r, nil
}

// checkUpstreamOnly fails (exit 3) if any proxy's LDS, CDS or RDS uses an Istio-only extension,
// naming the proxy, the xDS type, the resource and where in it.
func checkUpstreamOnly(istiod *xds.FakeDiscoveryServer, proxies []*proxy) error {
	var findings []string
	for _, p := range proxies {
		r, err := generate(istiod, p)
		if err != nil {
			return err
		}
		findings = append(findings, r.istioOnly(p)...)
	}
	return istioOnlyError(findings)
}

// istioOnlyError logs every finding and is the exit-3 error when there is any.
func istioOnlyError(findings []string) error {
	if len(findings) == 0 {
		return nil
	}
	for _, f := range findings {
		logf("istio-only %s", f)
	}
	return &exitError{code: exitIstioOnly, err: fmt.Errorf("istiod generated %d Istio-only extension(s) "+
		"upstream Envoy does not have, first: %s", len(findings), findings[0])}
}

func (r *xdsResources) istioOnly(p *proxy) []string {
	var findings []string
	for _, t := range xdsTypes {
		for _, m := range r.byType[t.name] {
			name := resourceName(m)
			walkNames(m.ProtoReflect(), "", func(path, value string) {
				for _, marker := range istioOnlyMarkers {
					if strings.Contains(value, marker) {
						findings = append(findings, fmt.Sprintf("proxy %s %s %s: %s = %q", p.key(), t.name, name, path, value))
						return
					}
				}
			})
		}
	}
	return findings
}

func resourceName(m proto.Message) string {
	fd := m.ProtoReflect().Descriptor().Fields().ByName("name")
	if fd == nil {
		return "?"
	}
	return m.ProtoReflect().Get(fd).String()
}

// walkNames calls visit with every extension name and type URL in m: `name` and `type_url`
// fields at any depth, and the type URL of every Any (whose content it walks into when the type
// is known in this process).
func walkNames(m protoreflect.Message, path string, visit func(path, value string)) {
	if m.Descriptor().FullName() == "google.protobuf.Any" {
		typeURL := m.Get(m.Descriptor().Fields().ByName("type_url")).String()
		visit(path+".@type", typeURL)
		if any, ok := m.Interface().(*anypb.Any); ok {
			if inner, err := any.UnmarshalNew(); err == nil {
				walkNames(inner.ProtoReflect(), path, visit)
			}
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fieldPath := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			list := v.List()
			for i := 0; i < list.Len(); i++ {
				walkValue(fd, list.Get(i), fmt.Sprintf("%s[%d]", fieldPath, i), visit)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				walkValue(fd.MapValue(), mv, fmt.Sprintf("%s[%s]", fieldPath, k.String()), visit)
				return true
			})
		default:
			walkValue(fd, v, fieldPath, visit)
		}
		return true
	})
}

func walkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string, visit func(path, value string)) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		walkNames(v.Message(), path, visit)
	case protoreflect.StringKind:
		if fd.Name() == "name" || fd.Name() == "type_url" {
			visit(path, v.String())
		}
	}
}

// write writes r as Envoy JSON to dir/{listeners,clusters,routes}.json.
func (r *xdsResources) write(dir string) error {
	marshal := protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}
	for _, t := range xdsTypes {
		var out bytes.Buffer
		out.WriteString("[")
		for i, m := range r.byType[t.name] {
			if i > 0 {
				out.WriteString(",")
			}
			out.WriteString("\n")
			j, err := marshal.Marshal(m)
			if err != nil {
				// an Any of a type this process does not know (such as an Istio-only one)
				j = []byte(fmt.Sprintf(`{"name": %q, "meshward_xds_error": %q}`, resourceName(m), err.Error()))
			}
			out.Write(j)
		}
		out.WriteString("\n]\n")
		if err := writeFile(filepath.Join(dir, t.file+".json"), out.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
