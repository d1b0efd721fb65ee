package main

import (
	"encoding/json"
	"os"
	"path/filepath"

	"istio.io/istio/pilot/test/xds"
)

// dataplane is what serve and dump share: the cluster istiod sees, its proxies with their
// certificates and bootstraps, and istiod running over it.
type dataplane struct {
	proxies []*proxy
	pki     *pki
	istiod  *xds.FakeDiscoveryServer
}

// prepare reads the inputs, builds the cluster, the PKI and the bootstraps, and starts istiod.
// Proxies live in workDir/proxiesDir/<ns>.<pod>/.
func prepare(o options, proxiesDir string) (*dataplane, error) {
	if err := requireUpstreamFeatures(); err != nil {
		return nil, err
	}
	if err := configureIstioLogging(); err != nil {
		return nil, err
	}
	template, err := bootstrapTemplate()
	if err != nil {
		return nil, err
	}
	workDir, err := filepath.Abs(o.workDir)
	if err != nil {
		return nil, err
	}
	m, err := loadMesh(o.meshFile)
	if err != nil {
		return nil, err
	}
	in, err := loadManifests(o.manifests)
	if err != nil {
		return nil, err
	}
	if err := in.addMetricsOff(m.GetRootNamespace()); err != nil {
		return nil, err
	}
	var jwks []byte
	if o.jwksFile != "" {
		if jwks, err = os.ReadFile(o.jwksFile); err != nil {
			return nil, badInput("--jwks: %v", err)
		}
		if !json.Valid(jwks) {
			return nil, badInput("--jwks %s: not JSON", o.jwksFile)
		}
	}

	c := buildCluster(in.objects, m.GetTrustDomain(), o.injectAll)
	d := &dataplane{proxies: c.proxies}
	if d.pki, err = newPKI(filepath.Join(workDir, "pki")); err != nil {
		return nil, err
	}
	if err := d.pki.issueWorkloads(d.proxies); err != nil {
		return nil, err
	}
	if err := d.pki.issueClients(o.clients); err != nil {
		return nil, err
	}
	secrets, err := d.pki.gatewaySecrets(in.configs, in.objects, d.proxies)
	if err != nil {
		return nil, err
	}
	if jwks != nil {
		// before istiod starts: its JWKS resolver reads the proxy environment once
		if err := answerJWKSFetches(jwks); err != nil {
			return nil, err
		}
	}

	d.istiod = startIstiod(in.configs, append(c.objects, secrets...), m)
	for _, p := range d.proxies {
		p.Dir = filepath.Join(workDir, proxiesDir, p.key())
		p.Bootstrap = filepath.Join(p.Dir, "envoy-rev.json")
		if err := writeBootstrap(p, m, template); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// dump writes every proxy's (or, with --proxies, the named proxies') LDS, CDS, RDS and EDS as
// Envoy JSON to DIR/<ns>.<pod>/, next to its bootstrap, and DIR/sizes.json (per proxy and xDS
// type, the resources' count and protobuf bytes); then fails like serve if any uses an Istio-only
// extension.
func dump(o options) error {
	d, err := prepare(o, ".")
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, k := range o.proxies {
		wanted[k] = true
	}
	var findings []string
	sizes := map[string]map[string]map[string]int{}
	for _, p := range d.proxies {
		if len(wanted) > 0 && !wanted[p.key()] {
			continue
		}
		delete(wanted, p.key())
		r, err := generate(d.istiod, p)
		if err != nil {
			return err
		}
		if err := r.write(p.Dir); err != nil {
			return err
		}
		sizes[p.key()] = r.sizes()
		findings = append(findings, r.istioOnly(p)...)
	}
	for k := range wanted {
		return badInput("--proxies: no proxy %q (proxies are <namespace>.<pod>, see proxies.json)", k)
	}
	j, err := json.MarshalIndent(sizes, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(o.workDir, "sizes.json"), append(j, '\n')); err != nil {
		return err
	}
	return istioOnlyError(findings)
}
