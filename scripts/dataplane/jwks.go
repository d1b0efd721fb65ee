package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"istio.io/istio/pilot/pkg/features"
)

// openIDDiscovery is the path istiod fetches for an issuer without jwksUri
// (pilot/pkg/model/jwks_resolver.go, resolveJwksURIUsingOpenID).
const openIDDiscovery = "/.well-known/openid-configuration"

// answerJWKSFetches makes every JWKS fetch of istiod's JWKS resolver return jwks, whatever the
// host. The resolver's HTTP clients are private, but both use http.ProxyFromEnvironment: this
// points the process's proxy environment at an in-process proxy that answers every request itself,
// http:// as a forward proxy and https:// by terminating the CONNECT tunnel with its own
// certificate (which is why the resolver is told to skip verification). Loopback hosts are never
// proxied by Go, so a jwksUri on localhost is fetched for real.
func answerJWKSFetches(jwks []byte) error {
	cert, err := jwksServerCertificate()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	h := &jwksProxy{jwks: jwks, tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = http.Serve(l, h) }()
	proxyURL := "http://" + l.Addr().String()
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		if err := os.Setenv(k, proxyURL); err != nil {
			return err
		}
	}
	for _, k := range []string{"NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		if err := os.Unsetenv(k); err != nil {
			return err
		}
	}
	features.JwksResolverInsecureSkipVerify = true
	return nil
}

// jwksProxy is the in-process proxy of answerJWKSFetches.
type jwksProxy struct {
	jwks []byte
	tls  *tls.Config
}

func (h *jwksProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		h.tunnel(w, strings.TrimSuffix(r.Host, ":443")) // the host as the fetched URI has it
		return
	}
	h.answer(w, r.URL.String()) // a forward proxy gets absolute URIs
}

// answer logs the fetch and answers it: an OpenID discovery document pointing at the JWKS, or
// the JWKS.
func (h *jwksProxy) answer(w http.ResponseWriter, uri string) {
	logf("jwks %s", uri)
	w.Header().Set("Content-Type", "application/json")
	if issuer, ok := strings.CutSuffix(uri, openIDDiscovery); ok {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/.well-known/jwks.json"})
		return
	}
	_, _ = w.Write(h.jwks)
}

// tunnel accepts a CONNECT to host and serves the HTTPS requests inside it.
func (h *jwksProxy) tunnel(w http.ResponseWriter, host string) {
	hijacker, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	conn, buffered, err := hijacker.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		return
	}
	tlsConn := tls.Server(&bufferedConn{Conn: conn, r: buffered.Reader}, h.tls)
	reader := bufio.NewReader(tlsConn)
	for {
		req, err := http.ReadRequest(reader)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				logf("jwks: https://%s: %v", host, err)
			}
			return
		}
		rec := &responseRecorder{header: http.Header{}, status: http.StatusOK}
		h.answer(rec, "https://"+host+req.URL.RequestURI())
		resp := &http.Response{
			StatusCode: rec.status, ProtoMajor: 1, ProtoMinor: 1, Header: rec.header,
			ContentLength: int64(len(rec.body)), Body: io.NopCloser(strings.NewReader(string(rec.body))),
			Close: req.Close,
		}
		if err := resp.Write(tlsConn); err != nil || req.Close {
			return
		}
	}
}

// bufferedConn reads first what the HTTP server buffered before the hijack.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// responseRecorder collects an answer to write it into the tunnel.
type responseRecorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *responseRecorder) Header() http.Header    { return r.header }
func (r *responseRecorder) WriteHeader(status int) { r.status = status }
func (r *responseRecorder) Write(b []byte) (int, error) {
	r.body = append(r.body, b...)
	return len(b), nil
}

// jwksServerCertificate is a self-signed certificate for the tunnelled HTTPS fetches.
func jwksServerCertificate() (tls.Certificate, error) {
	ca, err := newAuthority("meshward-xds", "meshward-xds JWKS server")
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(ca.pem.cert, ca.pem.key)
}
