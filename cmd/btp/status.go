package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/envoy-btp/envoy-btp/policy"
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	"sigs.k8s.io/yaml"
)

func init() {
	register(&command{
		name:    "status",
		summary: "print every BackendTrafficPolicy with the status.ancestors Envoy Gateway would report",
		usage:   "-f FILE_OR_DIR [-f ...] [--gateway-class NAME] [--strict]",
		setup: func(fs *flag.FlagSet) func(*stdio) error {
			in := inputFlag(fs)
			return func(s *stdio) error {
				m, err := in.load(s)
				if m == nil {
					return err
				}
				if werr := writeStatus(s.out, m.Policies); werr != nil {
					return werr
				}
				// Invalid policies are in the status; the errors still go to
				// stderr and make the exit code 1.
				return err
			}
		},
	})
}

// writeStatus prints each policy as a YAML document with its identity and
// status only.
func writeStatus(w io.Writer, policies []*egv1a1.BackendTrafficPolicy) error {
	for i, p := range policies {
		doc, err := policy.StatusDocument(p)
		if err != nil {
			return err
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}
