package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"

	"github.com/envoy-btp/envoy-btp/policy"
	"sigs.k8s.io/yaml"
)

func init() {
	register(&command{
		name:    "explain",
		summary: "show, per gateway/listener/route/rule, which BackendTrafficPolicy (or merge of policies) applies",
		usage:   "-f FILE_OR_DIR [-f ...] [--gateway-class NAME] [--strict] [-spec]",
		setup: func(fs *flag.FlagSet) func(*stdio) error {
			in := inputFlag(fs)
			spec := fs.Bool("spec", false, "also print each rule's effective policy spec (after merging, ConfigMap bodies inlined)")
			return func(s *stdio) error {
				m, err := in.load(s)
				if err != nil {
					return err
				}
				return writeExplain(s.out, m, *spec)
			}
		},
	})
}

func writeExplain(w io.Writer, m *policy.Model, withSpec bool) error {
	for _, g := range m.Gateways {
		fmt.Fprintf(w, "Gateway %s\n", g.Name)
		for _, l := range g.Listeners {
			host := "*"
			if l.Hostname != nil {
				host = *l.Hostname
			}
			fmt.Fprintf(w, "  listener %s port %d hostname %s\n", l.Name, l.Port, host)
			if len(l.Routes) == 0 {
				fmt.Fprintf(w, "    (no routes)\n")
			}
			for _, r := range l.Routes {
				hosts := "*"
				if len(r.Hostnames) > 0 {
					hosts = strings.Join(r.Hostnames, ", ")
				}
				fmt.Fprintf(w, "    %s %s hostnames %s\n", r.Kind, r.Name, hosts)
				for _, rule := range r.Rules {
					name := ""
					if rule.Name != nil {
						name = " " + *rule.Name
					}
					fmt.Fprintf(w, "      rule %d%s: %s\n", rule.Index, name, sources(rule))
					if withSpec && rule.Policy != nil {
						out, err := yaml.Marshal(rule.Policy)
						if err != nil {
							return err
						}
						for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
							fmt.Fprintf(w, "        %s\n", line)
						}
					}
				}
			}
		}
	}
	if len(m.Policies) > 0 {
		fmt.Fprintf(w, "Policies (oldest first; `btp status` has the full conditions)\n")
	}
	for _, p := range m.Policies {
		fmt.Fprintf(w, "  BackendTrafficPolicy %s/%s: %s\n", p.Namespace, p.Name, policySummary(p))
	}
	return nil
}

// policySummary condenses status.ancestors: per ancestor, the Accepted
// reason and any other condition type that is True.
func policySummary(p *egv1a1.BackendTrafficPolicy) string {
	if len(p.Status.Ancestors) == 0 {
		return "attached nowhere (no target exists or matches)"
	}
	var parts []string
	for _, a := range p.Status.Ancestors {
		where := "Gateway " + string(*a.AncestorRef.Namespace) + "/" + string(a.AncestorRef.Name)
		if a.AncestorRef.SectionName != nil {
			where += " listener " + string(*a.AncestorRef.SectionName)
		}
		var conds []string
		for _, c := range a.Conditions {
			switch {
			case c.Type == "Accepted":
				conds = append(conds, c.Reason)
			case c.Status == "True":
				conds = append(conds, c.Type)
			}
		}
		parts = append(parts, where+" "+strings.Join(conds, ", "))
	}
	return strings.Join(parts, "; ")
}

func sources(r *policy.Rule) string {
	switch len(r.PolicySources) {
	case 0:
		return "no policy"
	case 1:
		return "BackendTrafficPolicy " + r.PolicySources[0].String()
	}
	s := make([]string, len(r.PolicySources))
	for i, n := range r.PolicySources {
		s[i] = n.String()
	}
	return "BackendTrafficPolicy " + s[0] + " merged into " + strings.Join(s[1:], ", ")
}
