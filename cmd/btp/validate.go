package main

import (
	"flag"

	"github.com/envoy-btp/envoy-btp/bootstrap"
)

func init() {
	register(&command{
		name:    "validate",
		summary: "check the input; print nothing and exit 0 when valid, else list every error and exit 1",
		usage:   "-f FILE_OR_DIR [-f ...] [--gateway-class NAME] [--strict]",
		setup: func(fs *flag.FlagSet) func(*stdio) error {
			in := inputFlag(fs)
			return func(s *stdio) error {
				m, err := in.load(s)
				if err != nil {
					return err
				}
				// Valid means `btp render` succeeds: the renderer refuses
				// what the API accepts but envoy-btp cannot render yet
				// (e.g. loadBalancer.type BackendUtilization). Nothing it
				// checks depends on the host, so the default host stands
				// for both.
				_, err = bootstrap.Render(m, bootstrap.Options{})
				return err
			}
		},
	})
}
