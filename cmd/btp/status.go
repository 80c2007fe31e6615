package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/envoy-btp/envoy-btp/policy"
	"github.com/envoy-btp/envoy-btp/xds"
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	"sigs.k8s.io/yaml"
)

func init() {
	register(&command{
		name:    "status",
		summary: "print every BackendTrafficPolicy with the status.ancestors Envoy Gateway would report",
		usage:   "-f FILE_OR_DIR [-f ...] [--gateway-class NAME] [--strict] | --server http://127.0.0.1:18001",
		setup: func(fs *flag.FlagSet) func(*stdio) error {
			in := inputFlag(fs)
			server := fs.String("server", "", "print the status of what `btp serve` loaded, from its status `URL` (--status-addr), instead of reading files")
			return func(s *stdio) error {
				if *server != "" {
					if len(in.files) > 0 {
						return errors.New("btp status: --server takes no -f: the server reads the files")
					}
					return serverStatus(s, *server)
				}
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

// serverStatus prints what `btp status` prints for files, from a `btp
// serve` status endpoint; a refused edit there is the error (exit 1).
func serverStatus(s *stdio, url string) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(strings.TrimSuffix(url, "/") + "/status")
	if err != nil {
		return fmt.Errorf("btp status: --server: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("btp status: --server %s: %s (is it `btp serve --status-addr`?)", url, resp.Status)
	}
	var st xds.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("btp status: --server %s: %w", url, err)
	}
	policies := make([]*egv1a1.BackendTrafficPolicy, len(st.Policies))
	for i, p := range st.Policies {
		if policies[i], err = p.Policy(); err != nil {
			return fmt.Errorf("btp status: --server %s: %w", url, err)
		}
	}
	if err := writeStatus(s.out, policies); err != nil {
		return err
	}
	if st.Error != "" {
		return fmt.Errorf("%s\nbtp status: btp serve refuses the files as they are (above); it still serves version %s", st.Error, st.Version)
	}
	return nil
}
