package main

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	klabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"istio.io/istio/pkg/kube/labels"
	"istio.io/istio/pkg/ptr"
)

// What a cluster adds to the manifests before istiod sees them: the pods the controllers would
// start (with what the sidecar injector adds), their EndpointSlices, Service cluster IPs, and the
// ingress gateway of `istioctl install --set profile=default`.
const (
	systemNamespace = "istio-system"

	gatewayName           = "istio-ingressgateway"
	gatewayServiceAccount = "istio-ingressgateway-service-account"
	gatewayPodIP          = "10.244.1.2"

	// Pods with a proxy get firstProxyIP, firstProxyIP+1, … in namespace/name order; pods without
	// one (not injected) get addresses from firstPlainIP on, so that they never shift the proxies'.
	firstProxyIP = "10.244.1.10"
	firstPlainIP = "10.244.2.10"
	// Services without a spec.clusterIP get firstClusterIP, … in namespace/name order.
	firstClusterIP = "10.96.1.10"
)

// The labels the sidecar injector and the gateway chart put on pods.
const (
	labelTLSMode           = "security.istio.io/tlsMode"
	labelCanonicalName     = "service.istio.io/canonical-name"
	labelCanonicalRevision = "service.istio.io/canonical-revision"
	labelInject            = "sidecar.istio.io/inject"
	labelNamespaceInject   = "istio-injection"
	annotationTemplates    = "inject.istio.io/templates"
)

// workload is a Deployment or StatefulSet; the cluster runs one pod of each.
type workload struct {
	kind     string // Deployment, StatefulSet
	meta     metav1.ObjectMeta
	template corev1.PodTemplateSpec
}

func (w workload) key() string { return w.meta.Namespace + "/" + w.meta.Name }

// cluster is the cluster state istiod is given, and the proxies in it.
type cluster struct {
	objects []runtime.Object
	proxies []*proxy
	pods    []*corev1.Pod
}

// buildCluster adds to the manifests' Kubernetes objects what a running cluster would have.
// injectAll treats every namespace as labelled istio-injection=enabled (what
// `kubectl label namespace` does outside the manifests), unless it says disabled.
func buildCluster(objects []runtime.Object, trustDomain string, injectAll bool) *cluster {
	c := &cluster{objects: slices.Clone(objects)}
	namespaces := map[string]*corev1.Namespace{}
	var workloads []workload
	var services []*corev1.Service
	sliced := map[string]bool{} // services whose endpoints the manifests already have
	hasGateway := false
	for _, obj := range objects {
		switch o := obj.(type) {
		case *corev1.Namespace:
			namespaces[o.Name] = o
		case *appsv1.Deployment:
			workloads = append(workloads, workload{kind: "Deployment", meta: o.ObjectMeta, template: o.Spec.Template})
			hasGateway = hasGateway || isDefaultGateway(o.ObjectMeta, o.Spec.Template.Labels)
		case *appsv1.StatefulSet:
			workloads = append(workloads, workload{kind: "StatefulSet", meta: o.ObjectMeta, template: o.Spec.Template})
		case *corev1.Pod:
			hasGateway = hasGateway || isDefaultGateway(o.ObjectMeta, o.Labels)
			logf("warning: Pod %s/%s from the manifests is passed on as it is; it gets no proxy", o.Namespace, o.Name)
		case *corev1.Service:
			services = append(services, o)
		case *discoveryv1.EndpointSlice:
			sliced[o.Namespace+"/"+o.Labels[discoveryv1.LabelServiceName]] = true
		case *corev1.Endpoints: //nolint:staticcheck // the manifests may still carry the v1 API
			sliced[o.Namespace+"/"+o.Name] = true
		}
	}
	if namespaces[systemNamespace] == nil {
		ns := &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: systemNamespace},
		}
		namespaces[systemNamespace] = ns
		c.objects = append(c.objects, ns)
	}
	if !hasGateway {
		gw := defaultGateway()
		c.objects = append(c.objects, gw...)
		for _, obj := range gw {
			if s, ok := obj.(*corev1.Service); ok {
				services = append(services, s)
			}
		}
		pod := gatewayPod()
		c.addPod(pod, "gateway", trustDomain)
	}

	sort.Slice(workloads, func(i, j int) bool { return workloads[i].key() < workloads[j].key() })
	proxyIP, plainIP := netip.MustParseAddr(firstProxyIP), netip.MustParseAddr(firstPlainIP)
	for _, w := range workloads {
		kind := proxyKind(w, namespaces[w.meta.Namespace], injectAll)
		ip := &plainIP
		if kind != "" {
			ip = &proxyIP
		}
		c.addPod(workloadPod(w, kind, ip.String()), kind, trustDomain)
		*ip = ip.Next()
	}

	assignClusterIPs(services)
	for _, s := range services {
		if !sliced[s.Namespace+"/"+s.Name] {
			c.objects = append(c.objects, endpointSlices(s, c.pods)...)
		}
	}
	for _, p := range c.proxies {
		p.Ports = proxyPorts(p, services)
	}
	sort.Slice(c.proxies, func(i, j int) bool { return c.proxies[i].key() < c.proxies[j].key() })
	return c
}

// addPod adds a pod; kind "sidecar" or "gateway" gives it a proxy, "" none.
func (c *cluster) addPod(pod *corev1.Pod, kind, trustDomain string) {
	c.pods = append(c.pods, pod)
	c.objects = append(c.objects, pod)
	if kind != "" {
		c.proxies = append(c.proxies, newProxy(pod, kind, trustDomain))
	}
}

// proxyKind tells whether w's pod runs a proxy: "sidecar" when the injector's default webhook
// injects it (namespace label istio-injection=enabled or pod label sidecar.istio.io/inject=true,
// and not sidecar.istio.io/inject=false), "gateway" for a gateway deployment (the injector's
// gateway template, or pilot-agent run as `proxy router`), "" otherwise.
func proxyKind(w workload, ns *corev1.Namespace, injectAll bool) string {
	if w.template.Annotations[annotationTemplates] == "gateway" {
		return "gateway"
	}
	for _, c := range w.template.Spec.Containers {
		if len(c.Args) >= 2 && c.Args[0] == "proxy" && c.Args[1] == "router" {
			return "gateway"
		}
	}
	inject := w.template.Labels[labelInject]
	var nsLabels map[string]string
	if ns != nil {
		nsLabels = ns.Labels
	}
	switch {
	case inject == "false", nsLabels[labelNamespaceInject] == "disabled",
		w.meta.Namespace == "kube-system", w.meta.Namespace == "kube-public":
		return ""
	case inject == "true", nsLabels[labelNamespaceInject] == "enabled", injectAll:
		return "sidecar"
	}
	return ""
}

// workloadPod is the pod w's controller would start, as the injector leaves it for kind.
func workloadPod(w workload, kind, ip string) *corev1.Pod {
	podLabels := maps.Clone(w.template.Labels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	if kind == "sidecar" || w.template.Annotations[annotationTemplates] == "gateway" {
		// the injector's templates: sidecar adds all three, gateway the canonical ones
		name, revision := labels.CanonicalService(podLabels, w.meta.Name)
		setDefault(podLabels, labelCanonicalName, name)
		setDefault(podLabels, labelCanonicalRevision, revision)
		if kind == "sidecar" {
			setDefault(podLabels, labelTLSMode, "istio")
		}
	}
	spec := *w.template.Spec.DeepCopy()
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = "default"
	}
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        w.meta.Name + "-0",
			Namespace:   w.meta.Namespace,
			Labels:      podLabels,
			Annotations: maps.Clone(w.template.Annotations),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: w.kind, Name: w.meta.Name, Controller: ptr.Of(true),
			}},
		},
		Spec:   spec,
		Status: runningStatus(ip),
	}
	if w.kind == "Deployment" {
		// Istio reads a pod's workload from its controller only for generated names
		pod.GenerateName = w.meta.Name + "-"
	}
	if kind == "sidecar" {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
			Name:  "istio-proxy",
			Image: "istio/proxyv2",
			Args:  []string{"proxy", "sidecar", "--domain", w.meta.Namespace + ".svc.cluster.local"},
			Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}},
		})
	}
	return pod
}

func setDefault(m map[string]string, key, value string) {
	if _, ok := m[key]; !ok {
		m[key] = value
	}
}

func runningStatus(ip string) corev1.PodStatus {
	ready := func(t corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
	}
	return corev1.PodStatus{
		Phase:  corev1.PodRunning,
		PodIP:  ip,
		PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{
			ready(corev1.PodScheduled), ready(corev1.PodInitialized), ready(corev1.ContainersReady), ready(corev1.PodReady),
		},
	}
}

// isDefaultGateway tells whether an object of the manifests is the default profile's ingress
// gateway, which then is not added.
func isDefaultGateway(m metav1.ObjectMeta, podLabels map[string]string) bool {
	return m.Namespace == systemNamespace && (m.Name == gatewayName || podLabels["istio"] == "ingressgateway")
}

// gatewayLabels are the pod labels of the ingress gateway (manifests/charts/gateways/istio-ingress,
// templates/deployment.yaml, with the default profile's values).
func gatewayLabels() map[string]string {
	return map[string]string{
		"app":                         gatewayName,
		"istio":                       "ingressgateway",
		"heritage":                    "Tiller",
		"release":                     "istio",
		"chart":                       "gateways",
		labelCanonicalName:            gatewayName,
		labelCanonicalRevision:        "latest",
		"istio.io/rev":                "default",
		"operator.istio.io/component": "IngressGateways",
		labelInject:                   "false",
		"app.kubernetes.io/name":      gatewayName,
		"istio.io/dataplane-mode":     "none",
	}
}

// gatewayServicePorts are the default profile's ingress gateway Service ports
// (manifests/charts/gateways/istio-ingress/values.yaml).
func gatewayServicePorts() []corev1.ServicePort {
	port := func(name string, port, target int32) corev1.ServicePort {
		return corev1.ServicePort{Name: name, Port: port, TargetPort: intstr.FromInt32(target), Protocol: corev1.ProtocolTCP}
	}
	return []corev1.ServicePort{port("status-port", 15021, 15021), port("http2", 80, 8080), port("https", 443, 8443)}
}

// defaultGateway is the ingress gateway's ServiceAccount, Deployment and Service.
func defaultGateway() []runtime.Object {
	selector := map[string]string{"app": gatewayName, "istio": "ingressgateway"}
	meta := metav1.ObjectMeta{Name: gatewayName, Namespace: systemNamespace, Labels: selector}
	deployment := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.Of(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: gatewayLabels()},
				Spec:       gatewayPodSpec(),
			},
		},
	}
	service := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta,
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: selector,
			Ports:    gatewayServicePorts(),
		},
	}
	account := &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: gatewayServiceAccount, Namespace: systemNamespace, Labels: selector},
	}
	return []runtime.Object{account, deployment, service}
}

func gatewayPodSpec() corev1.PodSpec {
	port := func(name string, port int32) corev1.ContainerPort {
		return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP}
	}
	return corev1.PodSpec{
		ServiceAccountName: gatewayServiceAccount,
		Containers: []corev1.Container{{
			Name:  "istio-proxy",
			Image: "istio/proxyv2",
			Args:  []string{"proxy", "router", "--domain", systemNamespace + ".svc.cluster.local"},
			Ports: []corev1.ContainerPort{
				port("status-port", 15021), port("http2", 8080), port("https", 8443), port("http-envoy-prom", 15090),
			},
		}},
	}
}

func gatewayPod() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:         gatewayName + "-0",
			GenerateName: gatewayName + "-",
			Namespace:    systemNamespace,
			Labels:       gatewayLabels(),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: gatewayName, Controller: ptr.Of(true),
			}},
		},
		Spec:   gatewayPodSpec(),
		Status: runningStatus(gatewayPodIP),
	}
}

// assignClusterIPs gives Services without one the cluster IP the API server would allocate.
func assignClusterIPs(services []*corev1.Service) {
	sort.Slice(services, func(i, j int) bool {
		return services[i].Namespace+"/"+services[i].Name < services[j].Namespace+"/"+services[j].Name
	})
	ip := netip.MustParseAddr(firstClusterIP)
	for _, s := range services {
		if s.Spec.ClusterIP != "" || s.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		s.Spec.ClusterIP = ip.String()
		s.Spec.ClusterIPs = []string{ip.String()}
		ip = ip.Next()
	}
}

// endpointSlices are what the EndpointSlice controller writes for service: its ready pods, one
// slice per distinct set of resolved target ports (named target ports may differ between pods).
func endpointSlices(service *corev1.Service, pods []*corev1.Pod) []runtime.Object {
	if len(service.Spec.Selector) == 0 || service.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	selector := klabels.SelectorFromSet(service.Spec.Selector)
	var slices []*discoveryv1.EndpointSlice
	bySignature := map[string]*discoveryv1.EndpointSlice{}
	for _, pod := range pods {
		if pod.Namespace != service.Namespace || !selector.Matches(klabels.Set(pod.Labels)) {
			continue
		}
		ports := endpointPorts(service, pod)
		signature := fmt.Sprint(ports)
		slice := bySignature[signature]
		if slice == nil {
			slice = &discoveryv1.EndpointSlice{
				TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
				ObjectMeta: metav1.ObjectMeta{
					Name:      fmt.Sprintf("%s-%d", service.Name, len(slices)),
					Namespace: service.Namespace,
					Labels: map[string]string{
						discoveryv1.LabelServiceName: service.Name,
						discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
					},
				},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       ports,
			}
			bySignature[signature] = slice
			slices = append(slices, slice)
		}
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{pod.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{
				Ready: ptr.Of(true), Serving: ptr.Of(true), Terminating: ptr.Of(false),
			},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name},
		})
	}
	out := make([]runtime.Object, 0, len(slices))
	for _, s := range slices {
		out = append(out, s)
	}
	return out
}

// endpointPorts resolves service's target ports against pod's container ports; a named target
// port the pod does not have is left out, as the EndpointSlice controller does.
func endpointPorts(service *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	var ports []discoveryv1.EndpointPort
	for _, sp := range service.Spec.Ports {
		number, ok := targetPort(sp, pod)
		if !ok {
			continue
		}
		protocol := sp.Protocol
		if protocol == "" {
			protocol = corev1.ProtocolTCP
		}
		ports = append(ports, discoveryv1.EndpointPort{
			Name: ptr.Of(sp.Name), Port: ptr.Of(number), Protocol: ptr.Of(protocol), AppProtocol: sp.AppProtocol,
		})
	}
	return ports
}

func targetPort(sp corev1.ServicePort, pod *corev1.Pod) (int32, bool) {
	switch {
	case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
		for _, c := range pod.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == sp.TargetPort.StrVal {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	case sp.TargetPort.IntVal != 0:
		return sp.TargetPort.IntVal, true
	default:
		return sp.Port, true
	}
}

// proxyPorts lists what the harness may connect to: a sidecar's application container ports, a
// gateway's Service ports with the target port each is forwarded to.
func proxyPorts(p *proxy, services []*corev1.Service) []proxyPort {
	ports := []proxyPort{}
	if p.Kind == "gateway" {
		for _, s := range services {
			if s.Namespace != p.Namespace || len(s.Spec.Selector) == 0 ||
				!klabels.SelectorFromSet(s.Spec.Selector).Matches(klabels.Set(p.pod.Labels)) {
				continue
			}
			for _, sp := range s.Spec.Ports {
				if target, ok := targetPort(sp, p.pod); ok {
					ports = append(ports, proxyPort{Port: sp.Port, Name: sp.Name, Protocol: string(protocolOrTCP(sp.Protocol)), TargetPort: target})
				}
			}
		}
		return ports
	}
	for _, c := range p.pod.Spec.Containers {
		if c.Name == "istio-proxy" {
			continue
		}
		for _, cp := range c.Ports {
			ports = append(ports, proxyPort{Port: cp.ContainerPort, Name: cp.Name, Protocol: string(protocolOrTCP(cp.Protocol)), TargetPort: cp.ContainerPort})
		}
	}
	return ports
}

func protocolOrTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}
