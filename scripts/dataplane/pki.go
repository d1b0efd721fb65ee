package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	klabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/gvk"
)

// Lifetimes of the test PKI. Workload certificates live as long as istiod's default (SECRET_TTL).
const (
	caLifetime       = 365 * 24 * time.Hour
	workloadLifetime = 24 * time.Hour
)

// keyPair is a PEM certificate (chain) and its PEM private key.
type keyPair struct {
	cert, key []byte
}

// authority is a self-signed CA.
type authority struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
	pem  keyPair
}

func newAuthority(organization, commonName string) (*authority, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{organization}, CommonName: commonName},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := sign(template, caLifetime, key, nil, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, pem: keyPair{cert: certPEM(der), key: keyPEM(key)}}, nil
}

// issue signs a new RSA-2048 leaf from template (subject and SANs; usages are set here).
func (a *authority) issue(template *x509.Certificate, lifetime time.Duration) (keyPair, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return keyPair{}, err
	}
	template.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	template.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	der, err := sign(template, lifetime, key, a.cert, a.key)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{cert: certPEM(der), key: keyPEM(key)}, nil
}

func sign(template *x509.Certificate, lifetime time.Duration, key *rsa.PrivateKey, parent *x509.Certificate, parentKey *rsa.PrivateKey) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	template.SerialNumber = serial
	template.NotBefore = time.Now().Add(-time.Hour) // tolerate clock skew between processes
	template.NotAfter = time.Now().Add(lifetime)
	if parent == nil {
		parent = template
	}
	return x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(key *rsa.PrivateKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(key) // cannot fail for an RSA key
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// uriCertificate is a certificate template whose only identity is uri, like Istio's workload
// certificates (empty subject, URI SAN).
func uriCertificate(uri string) (*x509.Certificate, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{URIs: []*url.URL{u}}, nil
}

// pki is the TLS material of one run, in DIR/pki.
type pki struct {
	dir     string
	mesh    *authority // the mesh root CA: proxies and clients trust it
	evil    *authority // a CA nobody trusts
	gateway *authority // signs the gateways' server certificates
	clients map[string]clientEntry
}

// clientEntry is a client's entry in clients.json.
type clientEntry struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
	URI  string `json:"uri"`
	CA   string `json:"ca"` // mesh, evil
}

func newPKI(dir string) (*pki, error) {
	p := &pki{dir: dir, clients: map[string]clientEntry{}}
	var err error
	if p.mesh, err = newAuthority("cluster.local", "meshward-xds mesh root CA"); err != nil {
		return nil, err
	}
	if p.evil, err = newAuthority("evil.example", "meshward-xds untrusted CA"); err != nil {
		return nil, err
	}
	if p.gateway, err = newAuthority("meshward-xds", "meshward-xds gateway CA"); err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{
		"root-cert.pem":      p.mesh.pem.cert,
		"root-key.pem":       p.mesh.pem.key,
		"evil-root-cert.pem": p.evil.pem.cert,
		"evil-root-key.pem":  p.evil.pem.key,
		"gateway-ca.pem":     p.gateway.pem.cert,
		"gateway-ca-key.pem": p.gateway.pem.key,
	} {
		if err := writeFile(filepath.Join(dir, name), data); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// issueWorkloads gives every proxy its SPIFFE certificate, served over SDS as `default`, and
// also writes it to DIR/pki/workloads/<namespace>.<pod>/ for debugging.
func (p *pki) issueWorkloads(proxies []*proxy) error {
	for _, px := range proxies {
		template, err := uriCertificate(px.Principal)
		if err != nil {
			return err
		}
		if px.certificate, err = p.mesh.issue(template, workloadLifetime); err != nil {
			return err
		}
		dir := filepath.Join(p.dir, "workloads", px.key())
		if err := writeFile(filepath.Join(dir, "cert.pem"), px.certificate.cert); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, "key.pem"), px.certificate.key); err != nil {
			return err
		}
	}
	return nil
}

// clientSpec is one --client NAME=SPIFFE_URI[@evil].
type clientSpec struct {
	name, uri string
	evil      bool
}

var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func parseClientSpec(v string) (clientSpec, error) {
	name, uri, ok := strings.Cut(v, "=")
	if !ok || !clientName.MatchString(name) {
		return clientSpec{}, fmt.Errorf("%q is not NAME=SPIFFE_URI[@evil] with NAME of [A-Za-z0-9._-]", v)
	}
	c := clientSpec{name: name, uri: uri}
	if rest, evil := strings.CutSuffix(uri, "@evil"); evil {
		c.uri, c.evil = rest, true
	}
	if u, err := url.Parse(c.uri); err != nil || u.Scheme == "" || u.Host == "" {
		return clientSpec{}, fmt.Errorf("client %q: %q is not a URI like spiffe://cluster.local/ns/NS/sa/SA", name, c.uri)
	}
	return c, nil
}

// issueClients writes DIR/pki/clients/NAME/{cert,key}.pem for every --client.
func (p *pki) issueClients(clients []clientSpec) error {
	for _, c := range clients {
		template, err := uriCertificate(c.uri)
		if err != nil {
			return err
		}
		ca, caName := p.mesh, "mesh"
		if c.evil {
			ca, caName = p.evil, "evil"
		}
		pair, err := ca.issue(template, workloadLifetime)
		if err != nil {
			return err
		}
		entry := clientEntry{
			Cert: filepath.Join(p.dir, "clients", c.name, "cert.pem"),
			Key:  filepath.Join(p.dir, "clients", c.name, "key.pem"),
			URI:  c.uri,
			CA:   caName,
		}
		if err := writeFile(entry.Cert, pair.cert); err != nil {
			return err
		}
		if err := writeFile(entry.Key, pair.key); err != nil {
			return err
		}
		p.clients[c.name] = entry
	}
	return writeJSON(filepath.Join(p.dir, "clients.json"), p.clients)
}

// gatewaySecrets creates, for every Gateway credentialName whose Secret the manifests lack, the
// kubernetes.io/tls Secret an operator would have created: a server certificate for the hosts of
// the servers using it, signed by the gateway CA (plus ca.crt for MUTUAL servers). It goes into
// the namespace of the gateway pods the Gateway selects, where istiod looks it up.
func (p *pki) gatewaySecrets(configs []config.Config, objects []runtime.Object, proxies []*proxy) ([]runtime.Object, error) {
	existing := map[string]bool{}
	for _, obj := range objects {
		if s, ok := obj.(*corev1.Secret); ok {
			existing[s.Namespace+"/"+s.Name] = true
		}
	}
	type wanted struct {
		hosts  []string
		mutual bool
	}
	secrets := map[string]*wanted{}
	for _, c := range configs {
		gw, ok := c.Spec.(*networking.Gateway)
		if c.GroupVersionKind != gvk.Gateway || !ok {
			continue
		}
		namespaces := []string{c.Namespace}
		if !features.ScopeGatewayToNamespace {
			if selected := namespacesOf(proxies, gw.Selector); len(selected) > 0 {
				namespaces = selected
			}
		}
		for _, server := range gw.Servers {
			tls := server.GetTls()
			for _, name := range append([]string{tls.GetCredentialName()}, tls.GetCredentialNames()...) {
				if name == "" || strings.Contains(name, "/") {
					continue // none, or a kind of reference other than a Secret's name
				}
				for _, ns := range namespaces {
					key := ns + "/" + name
					if existing[key] {
						continue
					}
					w := secrets[key]
					if w == nil {
						w = &wanted{}
						secrets[key] = w
					}
					w.hosts = append(w.hosts, server.Hosts...)
					mode := tls.GetMode()
					w.mutual = w.mutual || mode == networking.ServerTLSSettings_MUTUAL || mode == networking.ServerTLSSettings_OPTIONAL_MUTUAL
				}
			}
		}
	}
	var out []runtime.Object
	for _, key := range slices.Sorted(maps.Keys(secrets)) {
		ns, name, _ := strings.Cut(key, "/")
		w := secrets[key]
		dnsNames := hostsForCertificate(w.hosts)
		pair, err := p.gateway.issue(&x509.Certificate{Subject: pkix.Name{CommonName: dnsNames[0]}, DNSNames: dnsNames}, caLifetime)
		if err != nil {
			return nil, err
		}
		secret := &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: pair.cert, corev1.TLSPrivateKeyKey: pair.key},
		}
		if w.mutual {
			secret.Data["ca.crt"] = p.mesh.pem.cert
		}
		logf("gateway secret %s/%s for %s", ns, name, strings.Join(dnsNames, ","))
		out = append(out, secret)
	}
	return out, nil
}

// namespacesOf lists the namespaces of the proxies whose pod labels match selector.
func namespacesOf(proxies []*proxy, selector map[string]string) []string {
	set := map[string]bool{}
	for _, p := range proxies {
		if klabels.SelectorFromSet(selector).Matches(klabels.Set(p.Labels)) {
			set[p.Namespace] = true
		}
	}
	out := slices.Collect(maps.Keys(set))
	sort.Strings(out)
	return out
}

// hostsForCertificate turns Gateway server hosts ("ns/host", "*") into DNS SANs.
func hostsForCertificate(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if i := strings.Index(h, "/"); i >= 0 {
			h = h[i+1:]
		}
		if h == "*" {
			h = "*.example.com"
		}
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		out = []string{"*.example.com"}
	}
	return out
}

// writeFile writes a PEM or JSON file readable by a non-root Envoy or client.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
