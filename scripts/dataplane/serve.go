package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"istio.io/istio/pkg/security"
)

// The sockets pilot-agent serves Envoy on, relative to the proxy folder (Envoy's working
// directory): its XDS proxy (ProxyConfig.configPath + "/XDS") and its SDS server
// (security.WorkloadIdentityPath + "/socket"). The bootstrap template points at them.
var (
	xdsSocket = filepath.Join("etc", "istio", "proxy", "XDS")
	sdsSocket = filepath.Join("var", "run", "secrets", "workload-spiffe-uds", security.DefaultWorkloadIdentitySocketFile)
)

// serve generates everything, serves istiod's ADS and the proxies' SDS on every proxy's sockets,
// prints `ready DIR/proxies.json` and serves until SIGTERM or SIGINT.
func serve(o options, stdout io.Writer) error {
	d, err := prepare(o, "proxies")
	if err != nil {
		return err
	}
	if err := checkUpstreamOnly(d.istiod, d.proxies); err != nil {
		return err
	}

	// istiod authenticates only TLS connections unless told that its network is trusted; here the
	// credential is the socket (socketAuthenticator), the one in the proxy's own folder.
	security.AuthPlaintext = true
	d.istiod.Discovery.Authenticators = []security.Authenticator{socketAuthenticator{}}

	ads := grpc.NewServer(grpc.StreamInterceptor(logStreams(true)))
	d.istiod.Discovery.Register(ads)
	sds := grpc.NewServer(grpc.StreamInterceptor(logStreams(false)))
	secretv3.RegisterSecretDiscoveryServiceServer(sds, newSecretServer(d.pki.mesh.pem.cert))

	var sockets []string
	defer func() {
		for _, s := range sockets {
			_ = os.Remove(s)
		}
	}()
	failed := make(chan error, 2*len(d.proxies))
	for _, p := range d.proxies {
		for _, s := range []struct {
			path   string
			server *grpc.Server
		}{{filepath.Join(p.Dir, xdsSocket), ads}, {filepath.Join(p.Dir, sdsSocket), sds}} {
			l, err := listenUnix(s.path)
			if err != nil {
				return fmt.Errorf("proxy %s: %v", p.key(), err)
			}
			sockets = append(sockets, s.path)
			go func() { failed <- s.server.Serve(proxyListener{Listener: l, proxy: p}) }()
		}
	}

	inventory := filepath.Join(filepath.Dir(d.pki.dir), "proxies.json")
	if err := writeJSON(inventory, d.proxies); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "ready %s\n", inventory); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case <-ctx.Done():
		ads.Stop()
		sds.Stop()
		return nil
	case err := <-failed:
		return fmt.Errorf("serving gRPC: %v", err)
	}
}

// listenUnix listens on a Unix socket any local user can connect to. A path longer than a
// socket address holds (108 bytes) is bound through /proc/self/fd/<its folder>.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	bind := path
	if len(path) >= 100 {
		dir, err := os.Open(filepath.Dir(path))
		if err != nil {
			return nil, err
		}
		defer dir.Close()
		bind = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
	}
	l, err := net.Listen("unix", bind)
	if err != nil {
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false) // serve removes the sockets by their real path
	if err := os.Chmod(path, 0o666); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// proxyListener marks every connection with the proxy whose socket it came in on.
type proxyListener struct {
	net.Listener
	proxy *proxy
}

func (l proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return proxyConn{Conn: c, addr: proxyAddr{l.proxy}}, nil
}

// proxyConn reports the proxy as its remote address, which gRPC hands on as the peer address.
type proxyConn struct {
	net.Conn
	addr proxyAddr
}

func (c proxyConn) RemoteAddr() net.Addr { return c.addr }

type proxyAddr struct{ proxy *proxy }

func (a proxyAddr) Network() string { return "unix" }
func (a proxyAddr) String() string  { return a.proxy.key() }

// proxyOfStream is the proxy whose socket a gRPC call came in on, or nil.
func proxyOfStream(ctx context.Context) *proxy {
	if p, ok := peer.FromContext(ctx); ok {
		if a, ok := p.Addr.(proxyAddr); ok {
			return a.proxy
		}
	}
	return nil
}

// socketAuthenticator authenticates an XDS connection as the proxy whose socket it came in on,
// standing in for the workload certificate pilot-agent presents to istiod. istiod then checks the
// node's namespace and service account against that identity (checkConnectionIdentity) and sets
// the VerifiedIdentity its SDS generator requires before serving a gateway's credentialName.
type socketAuthenticator struct{}

func (socketAuthenticator) AuthenticatorType() string { return "meshward-xds-socket" }

func (socketAuthenticator) Authenticate(ctx security.AuthContext) (*security.Caller, error) {
	p := proxyOfStream(ctx.GrpcContext)
	if p == nil {
		return nil, errors.New("not a proxy's XDS socket")
	}
	return &security.Caller{
		AuthSource: security.AuthSourceClientCertificate,
		Identities: []string{p.Principal},
		KubernetesInfo: security.KubernetesInfo{
			PodName: p.Name, PodNamespace: p.Namespace, PodServiceAccount: p.ServiceAccount,
		},
	}, nil
}

// logStreams logs, one line each, every proxy that connects (when connects is set) and every
// NACK Envoy sends: `connected <node id>`, `NACK <node id> <type url> <error detail>`.
func logStreams(connects bool) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &loggedStream{ServerStream: ss, connects: connects})
	}
}

type loggedStream struct {
	grpc.ServerStream
	connects bool
	node     string
}

func (s *loggedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	var nodeID, typeURL, nack string
	switch r := m.(type) {
	case *discovery.DiscoveryRequest:
		nodeID, typeURL = r.GetNode().GetId(), r.GetTypeUrl()
		nack = nackDetail(r.GetErrorDetail().GetMessage(), r.GetErrorDetail() != nil)
	case *discovery.DeltaDiscoveryRequest:
		nodeID, typeURL = r.GetNode().GetId(), r.GetTypeUrl()
		nack = nackDetail(r.GetErrorDetail().GetMessage(), r.GetErrorDetail() != nil)
	}
	if s.node == "" && nodeID != "" {
		s.node = nodeID
		if s.connects {
			logf("connected %s", s.node)
		}
	}
	if nack != "" {
		logf("NACK %s %s %s", s.node, typeURL, nack)
	}
	return nil
}

func nackDetail(message string, nacked bool) string {
	if !nacked {
		return ""
	}
	if message = strings.TrimSpace(message); message == "" {
		return "(no detail)"
	}
	return message
}
