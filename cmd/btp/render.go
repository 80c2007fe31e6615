package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/envoy-btp/envoy-btp/bootstrap"
	"github.com/envoy-btp/envoy-btp/policy"
)

func init() {
	register(&command{
		name:    "render",
		summary: "render the input as an Envoy bootstrap (written atomically, or not at all)",
		help: "Running Envoy on the output (the header comment of the file says the same):\n" +
			"  GODEBUG=cgocheck=0 ENVOY_DYNAMIC_MODULES_SEARCH_PATH=DIR envoy -c envoy.yaml --drain-time-s 15 --drain-strategy immediate\n" +
			"SIGTERM does not drain: Envoy exits at once and cuts the requests in flight\n" +
			"(--drain-time-s and --drain-strategy apply to the admin drain, hot restart and\n" +
			"LDS changes). To stop it without cutting requests, POST /healthcheck/fail and\n" +
			"/drain_listeners?graceful on the admin port, wait --drain-time-s and until\n" +
			"http.*.downstream_rq_active is 0, then send SIGTERM (docs/bootstrap.md).",
		usage: "(--xds grpc://HOST:PORT [--node-id ID] [--cluster NAME] [--delta] | -f FILE_OR_DIR [-f ...]) [--gateway-class NAME] [--strict] [--keep-going] [-o envoy.yaml] [--host golang|dynamic-module] [--library-path PATH] [--admin-port N] [--ratelimit-url grpc://HOST:PORT] [--ratelimit-config DIR] [--ratelimit-fail-closed] [--ratelimit-timeout D]",
		setup: func(fs *flag.FlagSet) func(*stdio) error {
			in := inputFlag(fs)
			out := fs.String("o", "-", "output `FILE`; - for stdout")
			rf := renderFlag(fs, true)
			xdsURL := fs.String("xds", "", "instead of the static bootstrap, write the small one an Envoy starts with to take everything from `btp serve` at grpc://HOST:PORT (no -f needed)")
			nodeID := fs.String("node-id", "envoy-btp", "--xds: the Envoy's node id (each Envoy of a fleet its own)")
			nodeCluster := fs.String("cluster", "envoy-btp", "--xds: the Envoy's node cluster")
			delta := fs.Bool("delta", false, "--xds: incremental ADS (DELTA_GRPC, only changed resources are sent); default state of the world")
			return func(s *stdio) error {
				if *rf.admin == 0 || *rf.admin > 65535 {
					return fmt.Errorf("btp render: --admin-port %d: allowed 1-65535", *rf.admin)
				}
				if *xdsURL != "" {
					if len(in.files) > 0 {
						return errors.New("btp render: --xds takes no -f: the Envoy gets the resources from btp serve")
					}
					return renderXDS(s, *out, bootstrap.XDSOptions{ServerURL: *xdsURL, NodeID: *nodeID, Cluster: *nodeCluster, AdminPort: uint32(*rf.admin), Delta: *delta})
				}
				if len(in.files) == 0 {
					return errors.New("btp render: no input: give -f FILE_OR_DIR (or -f - for stdin), or --xds grpc://HOST:PORT")
				}
				m, err := in.load(s)
				if err != nil {
					if err = keepGoing(s, m, err, *rf.keep, nothingRendered); err != nil {
						return err
					}
				}
				opts := rf.options()
				r, err := bootstrap.RenderAll(m, opts)
				if err != nil {
					return refusal(err, nothingRendered)
				}
				for _, e := range r.Isolated {
					fmt.Fprintf(s.err, "warning: --keep-going: %v; the rule answers 500\n", e)
				}
				y, err := bootstrap.YAML(r.Bootstrap)
				if err != nil {
					return err
				}
				y = append([]byte(bootstrap.Comment(opts)), y...)
				// The service config is written first: a bootstrap whose limits
				// never reached the service would let every request through.
				switch {
				case *rf.rlsConfig != "":
					if err := writeRateLimitConfigs(*rf.rlsConfig, r.RateLimit); err != nil {
						return fmt.Errorf("btp render: --ratelimit-config: %w", err)
					}
				case len(r.RateLimit) > 0:
					fmt.Fprintf(s.err, "btp render: rateLimit.global needs the rate limit service's config (%d domain(s)), which was not written; add --ratelimit-config DIR to write it\n", len(r.RateLimit))
				}
				if *out == "-" {
					_, err = s.out.Write(y)
					return err
				}
				mode := os.FileMode(0o644)
				if len(r.Bootstrap.GetStaticResources().GetSecrets()) > 0 {
					mode = 0o600 // HTTPS listeners' private keys are inline
				}
				return writeAtomicMode(*out, y, mode)
			}
		},
	})
}

// renderFlags are the flags of the static render, shared by render and
// serve.
type renderFlags struct {
	host, lib, rls, rlsConfig *string
	admin                     *uint
	failClosed, keep          *bool
	timeout                   *time.Duration
}

// renderFlag declares them on fs; --admin-port only for render (serve sends
// no admin: it is in each Envoy's own bootstrap).
func renderFlag(fs *flag.FlagSet, admin bool) *renderFlags {
	a := uint(bootstrap.DefaultAdminPort)
	if admin {
		fs.UintVar(&a, "admin-port", bootstrap.DefaultAdminPort, "admin listener port on 127.0.0.1")
	}
	return &renderFlags{
		admin:     &a,
		host:      fs.String("host", string(bootstrap.HostGolang), "how Envoy runs the btp filter: golang (contrib golang filter) or dynamic-module (stock Envoy)"),
		lib:       fs.String("library-path", bootstrap.DefaultLibraryPath, "golang host: path of libbtp.so inside the Envoy container"),
		rls:       fs.String("ratelimit-url", bootstrap.DefaultRateLimitServiceURL, "rate limit service for rateLimit.global, grpc://HOST:PORT"),
		rlsConfig: fs.String("ratelimit-config", "", "write the envoyproxy/ratelimit service config for rateLimit.global into `DIR`, one file per domain (the service reads one document per file)"),
		// Envoy Gateway takes these two from its own EnvoyGateway config
		// (rateLimit.failClosed, rateLimit.timeout), which btp does not read.
		failClosed: fs.Bool("ratelimit-fail-closed", false, "rateLimit.global: refuse requests (500) when the rate limit service cannot answer; default let them through (Envoy Gateway's EnvoyGateway rateLimit.failClosed)"),
		keep:       fs.Bool("keep-going", false, "render even when BackendTrafficPolicies are invalid, as Envoy Gateway does: each one is Invalid in `btp status` and the routes it governs answer 500; every other policy and route renders as usual"),
		timeout:    fs.Duration("ratelimit-timeout", 0, "rateLimit.global: timeout of each rate limit service call, e.g. 50ms; default Envoy's 20ms (Envoy Gateway's EnvoyGateway rateLimit.timeout)"),
	}
}

func (f *renderFlags) options() bootstrap.Options {
	return bootstrap.Options{
		Host:                bootstrap.Host(*f.host),
		LibraryPath:         *f.lib,
		AdminPort:           uint32(*f.admin),
		RateLimitServiceURL: *f.rls,
		RateLimitFailClosed: *f.failClosed,
		RateLimitTimeout:    *f.timeout,
		KeepGoing:           *f.keep,
	}
}

// renderXDS writes the xDS bootstrap (render --xds).
func renderXDS(s *stdio, out string, o bootstrap.XDSOptions) error {
	b, err := bootstrap.RenderXDS(o)
	if err != nil {
		return fmt.Errorf("btp render: --xds: %w", err)
	}
	y, err := bootstrap.YAML(b)
	if err != nil {
		return err
	}
	y = append([]byte(bootstrap.XDSComment(o)), y...)
	if out == "-" {
		_, err = s.out.Write(y)
		return err
	}
	return writeAtomic(out, y)
}

// keepGoing decides whether a Model loaded with err may be rendered: only
// with --keep-going, and only when every problem is in a
// BackendTrafficPolicy, which the Model isolates as Envoy Gateway does (the
// policy is Invalid, its routes answer 500). Those problems are then
// printed as warnings with the rules that answer 500.
func keepGoing(s *stdio, m *policy.Model, err error, keep bool, nothing string) error {
	var list policy.ErrorList
	if m == nil || !errors.As(err, &list) {
		return err
	}
	perPolicy, rest := list.PerPolicy()
	switch {
	case !keep:
		return fmt.Errorf("%w\n%s: %d problem(s) above; --keep-going renders the rest as Envoy Gateway would (the routes of an Invalid BackendTrafficPolicy answer 500)", err, nothing, len(list))
	case len(rest) > 0:
		return fmt.Errorf("%w\n%s, even with --keep-going: %d problem(s) above are not in a BackendTrafficPolicy (--keep-going isolates invalid policies only)", rest, nothing, len(rest))
	}
	for _, e := range perPolicy {
		fmt.Fprintf(s.err, "warning: %v\n", e)
	}
	for _, f := range m.FailedRules() {
		fmt.Fprintf(s.err, "warning: --keep-going: %s\n", f)
	}
	return nil
}

// How render and serve say that a refused input changed nothing.
const (
	nothingRendered = "btp render: nothing rendered"
	nothingPushed   = "btp serve: nothing pushed"
)

// refusal adds, to the renderer's errors, how --keep-going would go past
// the ones about policies.
func refusal(err error, nothing string) error {
	var list policy.ErrorList
	if !errors.As(err, &list) {
		return err
	}
	if perPolicy, _ := list.PerPolicy(); len(perPolicy) > 0 {
		return fmt.Errorf("%w\n%s: %d problem(s) above; --keep-going renders the routes of the policies named above as a 500, as Envoy Gateway does with a policy that fails translation", err, nothing, len(list))
	}
	return err
}

// rateLimitConfigHeader marks the files --ratelimit-config owns, so a later
// render can remove the ones whose domain is gone.
const rateLimitConfigHeader = "# Rendered by `btp render --ratelimit-config`: envoyproxy/ratelimit config for one domain.\n"

// writeRateLimitConfigs writes one file per domain into dir: the service
// loads every file of its config directory but only the first YAML document
// of each. Files of an earlier render whose domain is gone are removed, so
// stale limits never outlive their rules; other files are left alone.
func writeRateLimitConfigs(dir string, cfgs []*bootstrap.RateLimitConfig) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	written := map[string]string{} // file name -> domain
	for _, cfg := range cfgs {
		name := rateLimitFileName(cfg.Domain)
		if other, dup := written[name]; dup {
			return fmt.Errorf("domains %q and %q would share the file %s", other, cfg.Domain, name)
		}
		written[name] = cfg.Domain
		y, err := bootstrap.RateLimitYAML([]*bootstrap.RateLimitConfig{cfg})
		if err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(dir, name), append([]byte(rateLimitConfigHeader), y...)); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, keep := written[e.Name()]; keep || e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if b, err := os.ReadFile(path); err == nil && bytes.HasPrefix(b, []byte(rateLimitConfigHeader)) {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
	}
	return nil
}

// rateLimitFileName turns a domain (an Envoy listener name such as
// default/gw/http) into a file name.
func rateLimitFileName(domain string) string {
	b := []byte(domain)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b) + ".yaml"
}

// writeAtomic replaces path with data through a temporary file in the same
// directory, so a reader (or Envoy) never sees a partial bootstrap.
func writeAtomic(path string, data []byte) error { return writeAtomicMode(path, data, 0o644) }

// writeAtomicMode is writeAtomic with the file's permissions.
func writeAtomicMode(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".btp-render-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
