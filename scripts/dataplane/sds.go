package main

import (
	"context"
	"slices"
	"strconv"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pkg/security"
)

// secretServer stands in for pilot-agent's SDS server (security/pkg/nodeagent/sds): on each
// proxy's own socket it serves that proxy's workload certificate as `default` and the mesh root
// as `ROOTCA`, in the shape pilot-agent's toEnvoySecret gives them.
type secretServer struct {
	secretv3.UnimplementedSecretDiscoveryServiceServer
	root    []byte
	version string
}

func newSecretServer(root []byte) *secretServer {
	return &secretServer{root: root, version: time.Now().UTC().Format(time.RFC3339)}
}

func (s *secretServer) secret(p *proxy, name string) (*tlsv3.Secret, bool) {
	inline := func(b []byte) *core.DataSource {
		return &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: b}}
	}
	switch name {
	case security.WorkloadKeyCertResourceName:
		return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inline(p.certificate.cert),
			PrivateKey:       inline(p.certificate.key),
		}}}, true
	case security.RootCertReqResourceName:
		return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inline(s.root),
		}}}, true
	}
	return nil, false
}

func (s *secretServer) response(p *proxy, names []string, nonce string) (*discovery.DiscoveryResponse, error) {
	resp := &discovery.DiscoveryResponse{VersionInfo: s.version, TypeUrl: v3.SecretType, Nonce: nonce}
	for _, name := range names {
		secret, ok := s.secret(p, name)
		if !ok {
			logf("sds %s: no secret %q (this SDS serves %s and %s)", p.NodeID, name,
				security.WorkloadKeyCertResourceName, security.RootCertReqResourceName)
			continue
		}
		a, err := anypb.New(secret)
		if err != nil {
			return nil, err
		}
		resp.Resources = append(resp.Resources, a)
	}
	return resp, nil
}

// StreamSecrets answers each new set of resource names; ACKs and NACKs (logged by the stream
// interceptor) get no answer, as the secrets never change.
func (s *secretServer) StreamSecrets(stream secretv3.SecretDiscoveryService_StreamSecretsServer) error {
	p := proxyOfStream(stream.Context())
	if p == nil {
		return status.Error(codes.Unauthenticated, "not a proxy's SDS socket")
	}
	var sent []string
	for n := 1; ; n++ {
		req, err := stream.Recv()
		if err != nil {
			return nil // the proxy went away
		}
		names := slices.Sorted(slices.Values(req.ResourceNames))
		if req.ResponseNonce != "" && slices.Equal(names, sent) {
			continue
		}
		resp, err := s.response(p, names, strconv.Itoa(n))
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return nil
		}
		sent = names
	}
}

func (s *secretServer) FetchSecrets(ctx context.Context, req *discovery.DiscoveryRequest) (*discovery.DiscoveryResponse, error) {
	p := proxyOfStream(ctx)
	if p == nil {
		return nil, status.Error(codes.Unauthenticated, "not a proxy's SDS socket")
	}
	return s.response(p, req.ResourceNames, "")
}
