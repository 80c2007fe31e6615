package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/envoy-btp/envoy-btp/bootstrap"
)

func init() {
	register(&command{
		name:    "render",
		summary: "render the input as an Envoy bootstrap (written atomically, or not at all)",
		usage:   "-f FILE_OR_DIR [-f ...] [-o envoy.yaml] [--host golang|dynamic-module] [--library-path PATH] [--admin-port N] [--ratelimit-url grpc://HOST:PORT] [--ratelimit-config FILE]",
		setup: func(fs *flag.FlagSet) func(*stdio) error {
			in := inputFlag(fs)
			out := fs.String("o", "-", "output `FILE`; - for stdout")
			host := fs.String("host", string(bootstrap.HostGolang), "how Envoy runs the btp filter: golang (contrib golang filter) or dynamic-module (stock Envoy)")
			lib := fs.String("library-path", bootstrap.DefaultLibraryPath, "golang host: path of libbtp.so inside the Envoy container")
			admin := fs.Uint("admin-port", bootstrap.DefaultAdminPort, "admin listener port on 127.0.0.1")
			rls := fs.String("ratelimit-url", bootstrap.DefaultRateLimitServiceURL, "rate limit service for rateLimit.global, grpc://HOST:PORT")
			rlsConfig := fs.String("ratelimit-config", "", "write the envoyproxy/ratelimit service config for rateLimit.global (one YAML document per domain) to `FILE`")
			return func(s *stdio) error {
				if len(*in) == 0 {
					return errors.New("btp render: no input: give -f FILE_OR_DIR (or -f - for stdin)")
				}
				if *admin == 0 || *admin > 65535 {
					return fmt.Errorf("btp render: --admin-port %d: allowed 1-65535", *admin)
				}
				m, err := in.load(s.in)
				if err != nil {
					return err
				}
				opts := bootstrap.Options{
					Host:                bootstrap.Host(*host),
					LibraryPath:         *lib,
					AdminPort:           uint32(*admin),
					RateLimitServiceURL: *rls,
				}
				r, err := bootstrap.RenderAll(m, opts)
				if err != nil {
					return err
				}
				y, err := bootstrap.YAML(r.Bootstrap)
				if err != nil {
					return err
				}
				y = append([]byte(bootstrap.Comment(opts)), y...)
				// The service config is written first: a bootstrap whose limits
				// never reached the service would let every request through.
				switch {
				case *rlsConfig != "":
					ry, err := bootstrap.RateLimitYAML(r.RateLimit)
					if err != nil {
						return err
					}
					if len(r.RateLimit) == 0 {
						// Still written, so an older config never outlives its rules.
						ry = []byte("# No rateLimit.global rules in the input: the rate limit service has no domain to serve.\n")
					} else {
						ry = append([]byte(rateLimitConfigComment), ry...)
					}
					if err := writeAtomic(*rlsConfig, ry); err != nil {
						return fmt.Errorf("btp render: --ratelimit-config: %w", err)
					}
				case len(r.RateLimit) > 0:
					fmt.Fprintf(s.err, "btp render: rateLimit.global needs the rate limit service's config (%d domain(s)), which was not written; add --ratelimit-config FILE to write it\n", len(r.RateLimit))
				}
				if *out == "-" {
					_, err = s.out.Write(y)
					return err
				}
				return writeAtomic(*out, y)
			}
		},
	})
}

// rateLimitConfigComment heads the service config: envoyproxy/ratelimit
// reads only the first YAML document of each file it loads.
const rateLimitConfigComment = "# Rendered by `btp render --ratelimit-config`: the envoyproxy/ratelimit config for\n" +
	"# rateLimit.global, one YAML document per domain. The service reads only the first\n" +
	"# document of each file: give it one file per document (split on the --- lines).\n"

// writeAtomic replaces path with data through a temporary file in the same
// directory, so a reader (or Envoy) never sees a partial bootstrap.
func writeAtomic(path string, data []byte) error {
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
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
