package main

import (
	"fmt"
	"os"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	kubelib "istio.io/istio/pkg/kube"
)

// startIstiod runs istiod's discovery server in-process: Istio's test server
// (pilot/test/xds.FakeDiscoveryServer) is istiod's real config generator, xDS server and
// Kubernetes service registry over a fake API server holding objects.
func startIstiod(configs []config.Config, objects []runtime.Object, m *meshconfig.MeshConfig) *xds.FakeDiscoveryServer {
	return xds.NewFakeDiscoveryServer(&failer{}, xds.FakeOptions{
		Configs:            configs,
		KubernetesObjects:  objects,
		MeshConfig:         m,
		KubeClientModifier: authorizeOwnNamespaceSecrets,
	})
}

// authorizeOwnNamespaceSecrets answers istiod's SubjectAccessReviews (pilot/pkg/credentials/kube,
// Authorize: may this proxy's service account list Secrets in its namespace?) as the RBAC of an
// install does for a gateway's own namespace: a service account may read the Secrets of its own
// namespace, no others.
func authorizeOwnNamespaceSecrets(c kubelib.Client) {
	c.Kube().(*kubefake.Clientset).PrependReactor("create", "subjectaccessreviews",
		func(action k8stesting.Action) (bool, runtime.Object, error) {
			review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
			namespace := serviceAccountNamespace(review.Spec.User)
			attributes := review.Spec.ResourceAttributes
			review.Status.Allowed = namespace != "" && attributes != nil && attributes.Namespace == namespace
			if !review.Status.Allowed {
				review.Status.Reason = "meshward-xds: a service account reads only the Secrets of its own namespace"
			}
			return true, review, nil
		})
}

// serviceAccountNamespace is NS of "system:serviceaccount:NS:NAME", or "".
func serviceAccountNamespace(user string) string {
	parts := strings.Split(user, ":")
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
		return ""
	}
	return parts[2]
}

// failer is the test.Failer Istio's test server reports to: any failure is fatal. The server
// lives as long as the process, so its cleanups are left to the exit.
type failer struct{}

func (f *failer) Fail()                             { f.FailNow() }
func (f *failer) FailNow()                          { f.Fatal("failed") }
func (f *failer) Fatal(args ...any)                 { fatal(fmt.Sprint(args...)) }
func (f *failer) Fatalf(format string, args ...any) { fatal(fmt.Sprintf(format, args...)) }
func (f *failer) Log(args ...any)                   { logf("istiod: %s", fmt.Sprint(args...)) }
func (f *failer) Logf(format string, args ...any)   { logf("istiod: "+format, args...) }
func (f *failer) Helper()                           {}
func (f *failer) Skip(args ...any)                  { f.Fatal(args...) }

func (f *failer) TempDir() string {
	dir, err := os.MkdirTemp("", "meshward-xds-")
	if err != nil {
		f.Fatal(err)
	}
	return dir
}

func (f *failer) Cleanup(func()) {}

func fatal(message string) {
	logf("meshward-xds: istiod: %s", message)
	os.Exit(exitFailure)
}
