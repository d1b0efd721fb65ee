// Command meshward-xds runs istiod's own config generator in-process and serves it to upstream
// Envoys, so that the integration tier can hold `meshward decide` against a real data plane.
//
//	meshward-xds serve --manifests PATH[,PATH...] --mesh FILE --work DIR [--jwks FILE] [--client NAME=SPIFFE_URI[@evil]]...
//	meshward-xds dump  --manifests PATH[,PATH...] --mesh FILE --out DIR [--proxies NS.POD,...] [--jwks FILE] [--client ...]...
//	meshward-xds version
//
// README.md describes the contract the TypeScript harness relies on.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"istio.io/istio/pilot/pkg/features"
	istiolog "istio.io/istio/pkg/log"
	"istio.io/istio/pkg/version"
)

// Exit codes.
const (
	exitFailure   = 1 // an internal or I/O failure
	exitBadInput  = 2 // bad flags, environment, manifests or mesh config
	exitIstioOnly = 3 // istiod generated an extension upstream Envoy does not have
)

// exitError is an error that names the process exit code it stands for.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// badInput marks an error as the caller's: exit code 2.
func badInput(format string, args ...any) error {
	return &exitError{code: exitBadInput, err: fmt.Errorf(format, args...)}
}

// logger writes meshward-xds' own lines to stderr, one line per event; stdout carries only `ready`.
var logger = log.New(os.Stderr, "", 0)

// logf logs one line, folding any line breaks in the values so that a line stays one event.
func logf(format string, args ...any) {
	logger.Print(strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " "))
}

func main() {
	err := run(os.Args[1:], os.Stdout)
	if err == nil {
		return
	}
	logf("meshward-xds: %v", err)
	var exit *exitError
	if errors.As(err, &exit) {
		os.Exit(exit.code)
	}
	os.Exit(exitFailure)
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return badInput("usage: meshward-xds serve|dump|version [flags] (see README.md)")
	}
	switch args[0] {
	case "serve":
		o, err := parseOptions("serve", "work", args[1:])
		if err != nil {
			return err
		}
		return serve(o, stdout)
	case "dump":
		o, err := parseOptions("dump", "out", args[1:])
		if err != nil {
			return err
		}
		return dump(o)
	case "version":
		_, err := fmt.Fprintf(stdout, "meshward-xds istio %s\n", version.Info.Version)
		return err
	default:
		return badInput("unknown command %q (known: serve, dump, version)", args[0])
	}
}

// options are the flags of serve and dump.
type options struct {
	manifests []string
	meshFile  string
	// workDir is where everything is written: --work for serve, --out for dump.
	workDir  string
	jwksFile string
	clients  []clientSpec
	// injectAll gives every workload outside kube-system a sidecar, as if each namespace had
	// the istio-injection=enabled label (unless it says disabled, or the pod inject=false).
	injectAll bool
	// proxies limits dump to these proxies (<namespace>.<pod>); empty: every proxy.
	proxies []string
}

func parseOptions(command, dirFlag string, args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("meshward-xds "+command, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	manifests := fs.String("manifests", "", "manifest files or folders, comma-separated (folders: *.yaml, *.yml, recursively)")
	fs.StringVar(&o.meshFile, "mesh", "", "MeshConfig YAML, or an IstioOperator whose spec.meshConfig is used")
	fs.StringVar(&o.workDir, dirFlag, "", "folder to write the PKI, the proxies and the inventory into")
	fs.BoolVar(&o.injectAll, "inject-all", false, "give every workload a sidecar, as if each namespace were labelled istio-injection=enabled")
	proxies := fs.String("proxies", "", "dump: only these proxies, comma-separated <namespace>.<pod> (default: all)")
	fs.StringVar(&o.jwksFile, "jwks", "", "answer every JWKS and OpenID discovery fetch of istiod with this file")
	fs.Func("client", "NAME=SPIFFE_URI[@evil]: a client certificate with exactly that URI SAN (repeatable)", func(v string) error {
		c, err := parseClientSpec(v)
		if err != nil {
			return err
		}
		for _, existing := range o.clients {
			if existing.name == c.name {
				return fmt.Errorf("client %q given twice", c.name)
			}
		}
		o.clients = append(o.clients, c)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return o, badInput("%v", err)
	}
	if fs.NArg() > 0 {
		return o, badInput("unexpected argument %q", fs.Arg(0))
	}
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.proxies = append(o.proxies, p)
		}
	}
	for _, p := range strings.Split(*manifests, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.manifests = append(o.manifests, p)
		}
	}
	switch {
	case len(o.manifests) == 0:
		return o, badInput("--manifests is required")
	case o.meshFile == "":
		return o, badInput("--mesh is required")
	case o.workDir == "":
		return o, badInput("--%s is required", dirFlag)
	}
	return o, nil
}

// requireUpstreamFeatures refuses to run unless istiod's feature flags that emit Istio-only Envoy
// extensions are off. They are read from the environment when the features package initialises,
// so they cannot be switched from inside the process.
func requireUpstreamFeatures() error {
	for _, f := range []struct {
		name    string
		enabled bool
		emits   string
	}{
		{"PILOT_ENABLE_METADATA_EXCHANGE", features.MetadataExchange, "istio.metadata_exchange"},
		{"PILOT_ENABLE_ALPN_FILTER", features.ALPNFilter, "istio.alpn"},
	} {
		if f.enabled {
			return badInput("%s must be set to false in the environment: otherwise istiod emits %s, "+
				"which upstream Envoy does not have (now %q)", f.name, f.emits, os.Getenv(f.name))
		}
	}
	return nil
}

// configureIstioLogging sends istiod's own logging to stderr (its default is stdout) at warning
// level, so that stdout carries nothing but the `ready` line.
func configureIstioLogging() error {
	o := istiolog.DefaultOptions()
	o.OutputPaths = []string{"stderr"}
	o.ErrorOutputPaths = []string{"stderr"}
	o.SetDefaultOutputLevel(istiolog.OverrideScopeName, istiolog.WarnLevel) // every scope
	return istiolog.Configure(o)
}
