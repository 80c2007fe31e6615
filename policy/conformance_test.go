package policy

import (
	"fmt"
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// Envoy Gateway's own translator tests (internal/gatewayapi/testdata in the
// pinned module) are the oracle for policy status: each case's input is
// loaded here and every BackendTrafficPolicy's status.ancestors must equal
// the one Envoy Gateway's translator wrote in the case's output. Cases that
// need kinds btp does not read, or hold a policy the CRD (or envoy-btp's
// scope) rejects, are left out and logged.

// egTestdata returns the directory of Envoy Gateway's translator test cases
// in the module cache.
func egTestdata(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/envoyproxy/gateway").Output()
	if err != nil {
		t.Fatalf("locating the Envoy Gateway module: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "internal", "gatewayapi", "testdata")
}

// egInput turns an Envoy Gateway test input (lists by resource type) into
// multi-document YAML. Policies get increasing creationTimestamps in file
// order: Envoy Gateway's provider sorts them before the translator sees
// them, and its tests list them in that order.
func egInput(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in map[string][]map[string]any
	if err := yaml.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	var docs []string
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, key := range []string{"gateways", "httpRoutes", "services", "backends", "configMaps", "backendTrafficPolicies"} {
		for i, o := range in[key] {
			if key == "backendTrafficPolicies" {
				md, _ := o["metadata"].(map[string]any)
				if _, ok := md["creationTimestamp"]; !ok {
					md["creationTimestamp"] = base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
				}
			}
			delete(o, "status")
			// The same objects in the served v1 version (v1beta1 Gateway
			// and HTTPRoute share the v1 schema).
			if o["apiVersion"] == "gateway.networking.k8s.io/v1beta1" {
				o["apiVersion"] = "gateway.networking.k8s.io/v1"
			}
			y, err := yaml.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, string(y))
		}
	}
	return strings.Join(docs, "---\n")
}

// egStatuses reads the expected statuses: ns/name -> ancestors as YAML.
func egStatuses(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Policies []struct {
			Metadata struct{ Name, Namespace string }
			Status   map[string]any
		} `json:"backendTrafficPolicies"`
	}
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, p := range out.Policies {
		m[p.Metadata.Namespace+"/"+p.Metadata.Name] = normalizeAncestors(t, p.Status["ancestors"])
	}
	return m
}

func normalizeAncestors(t *testing.T, anc any) string {
	t.Helper()
	list, _ := anc.([]any)
	for _, a := range list {
		for _, c := range a.(map[string]any)["conditions"].([]any) {
			cm := c.(map[string]any)
			delete(cm, "lastTransitionTime")
			delete(cm, "observedGeneration")
		}
	}
	y, err := yaml.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	return string(y)
}

// egUnreadKinds are input sections btp does not read; cases using them are
// not comparable.
var egUnreadKinds = []string{"grpcRoutes:", "tcpRoutes:", "udpRoutes:", "listenerSets:", "referenceGrants:",
	"securityPolicies:", "envoyExtensionPolicies:", "envoyProxyForGatewayClass:", "endpointSlices:", "endpointslices:", "httproutes:"}

func TestEnvoyGatewayConformance(t *testing.T) {
	// Every case with BackendTrafficPolicies, not only the ones named so.
	all, err := filepath.Glob(filepath.Join(egTestdata(t), "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ins []string
	for _, in := range all {
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(b), "backendTrafficPolicies:") || strings.Contains(string(b), "\nbackendTrafficPolicies:") {
			ins = append(ins, in)
		}
	}
	compared, rulesCompared, rulesWithPolicy := 0, 0, 0
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		raw, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		why := ""
		// GRPCRoutes only matter to the policies on them and to Gateway
		// policies' override lists: with them, compare the HTTPRoute
		// policies only.
		onlyRoutePolicies := strings.Contains(string(raw), "\ngrpcRoutes:") || strings.HasPrefix(string(raw), "grpcRoutes:")
		for _, k := range egUnreadKinds {
			if k == "grpcRoutes:" {
				continue
			}
			if strings.HasPrefix(string(raw), k) || strings.Contains(string(raw), "\n"+k) {
				why = "uses " + strings.TrimSuffix(k, ":") + ", which btp does not read"
			}
		}
		if why != "" {
			t.Logf("not compared: %s: %s", name, why)
			continue
		}
		t.Run(name, func(t *testing.T) {
			// Errors (missing Services and the like) do not matter here:
			// only the policy statuses are compared.
			r, _ := Read([]string{"-"}, strings.NewReader(egInput(t, in)))
			// Envoy Gateway's test inputs skip the API server. When one
			// of its policies is one the CRD (or envoy-btp's narrower
			// scope) rejects, that policy never reaches Envoy Gateway's
			// translator in a cluster, and the statuses of the policies
			// around it differ too: such a case is not comparable.
			for _, p := range r.Policies {
				if why := r.invalid[resourceID("BackendTrafficPolicy", p.Namespace, p.Name)]; len(why) > 0 {
					t.Logf("not compared: %s/%s is rejected before translation: %s", p.Namespace, p.Name, strings.Join(why, "; "))
					return
				}
			}
			compared++
			m, _ := Resolve(r)
			want := egStatuses(t, strings.TrimSuffix(in, ".in.yaml")+".out.yaml")
			for _, p := range m.Policies {
				id := p.Namespace + "/" + p.Name
				if onlyRoutePolicies && !targetsOnlyHTTPRoutes(p) {
					continue
				}
				doc, err := StatusDocument(p)
				if err != nil {
					t.Fatal(err)
				}
				got := normalizeAncestors(t, doc["status"].(map[string]any)["ancestors"])
				w, ok := want[id]
				if !ok {
					w = "[]\n" // Envoy Gateway lists only the policies it attached
				}
				if got != w {
					t.Errorf("%s status.ancestors:\n got:\n%s\nwant (Envoy Gateway):\n%s", id, got, w)
				}
			}
			// Which policy each rule ended up with (precedence, merge,
			// conflicts), where Envoy Gateway's output says.
			if onlyRoutePolicies {
				return // GRPCRoute-only gateway policies are missing here
			}
			mine := btpApplied(m)
			for k, want := range egApplied(t, strings.TrimSuffix(in, ".in.yaml")+".out.yaml") {
				rulesCompared++
				if want != "" {
					rulesWithPolicy++
				}
				if got, ok := mine[k]; !ok || got != want {
					t.Errorf("rule %d of %s on %s: btp applies %q, Envoy Gateway %q", k.rule, k.route, k.listener, got, want)
				}
			}
		})
	}
	t.Logf("compared %d of %d Envoy Gateway BackendTrafficPolicy cases, and the policy applied to %d route rules (%d with a policy)", compared, len(ins), rulesCompared, rulesWithPolicy)
	// Guard against a glob or filter that silently compares nothing.
	if compared < 58 {
		t.Errorf("compared %d Envoy Gateway cases, want at least 58", compared)
	}
	if rulesCompared < 50 || rulesWithPolicy < 40 {
		t.Errorf("compared the applied policy of %d route rules (%d with a policy), want at least 50 (40)", rulesCompared, rulesWithPolicy)
	}
}

func targetsOnlyHTTPRoutes(p *egv1a1.BackendTrafficPolicy) bool {
	refs := p.Spec.TargetRefs
	if p.Spec.TargetRef != nil {
		refs = append(refs, *p.Spec.TargetRef)
	}
	for _, r := range refs {
		if r.Kind != "HTTPRoute" {
			return false
		}
	}
	for _, s := range p.Spec.TargetSelectors {
		if s.Kind != "HTTPRoute" {
			return false
		}
	}
	return len(refs)+len(p.Spec.TargetSelectors) > 0
}

// ruleKey names one HTTPRoute rule on one Gateway listener.
type ruleKey struct {
	listener, route string
	rule            int
}

// egApplied reads, from a case's xdsIR, which BackendTrafficPolicy Envoy
// Gateway applied to each route rule on each listener (the first
// BackendTrafficPolicy in the route's metadata; "" for none). Routes that
// became a direct response (an invalid policy) are left out.
func egApplied(t *testing.T, path string) map[ruleKey]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		XdsIR map[string]struct {
			HTTP []struct {
				Name   string
				Routes []struct {
					Name           string
					DirectResponse any `json:"directResponse"`
					Metadata       struct {
						Policies []struct{ Kind, Name, Namespace string }
					}
				}
			}
		} `json:"xdsIR"`
	}
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	m := map[ruleKey]string{}
	for _, x := range out.XdsIR {
		for _, l := range x.HTTP {
			for _, r := range l.Routes {
				// httproute/<ns>/<name>/rule/<i>/match/<j>/<host>
				parts := strings.Split(r.Name, "/")
				if len(parts) < 5 || parts[0] != "httproute" || parts[3] != "rule" || r.DirectResponse != nil {
					continue
				}
				var i int
				if _, err := fmt.Sscan(parts[4], &i); err != nil {
					continue
				}
				applied := ""
				for _, p := range r.Metadata.Policies {
					if p.Kind == "BackendTrafficPolicy" {
						applied = p.Namespace + "/" + p.Name
						break
					}
				}
				m[ruleKey{l.Name, parts[1] + "/" + parts[2], i}] = applied
			}
		}
	}
	return m
}

// btpApplied is the same map from btp's model: the policy in effect per
// rule, most specific source first.
func btpApplied(m *Model) map[ruleKey]string {
	out := map[ruleKey]string{}
	for _, g := range m.Gateways {
		for _, l := range g.Listeners {
			for _, r := range l.Routes {
				for _, rule := range r.Rules {
					applied := ""
					if len(rule.PolicySources) > 0 {
						applied = rule.PolicySources[0].String()
					}
					out[ruleKey{g.Name.String() + "/" + l.Name, r.Name.String(), rule.Index}] = applied
				}
			}
		}
	}
	return out
}
