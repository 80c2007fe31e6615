package policy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"
)

// Envoy Gateway's own translator tests (internal/gatewayapi/testdata in the
// pinned module) are the oracle for policy status: every case whose input
// holds BackendTrafficPolicies is loaded here whole, as a user would point
// btp at the same resources, and every policy's status.ancestors is compared
// with the one Envoy Gateway's translator wrote in the case's output. The
// share of ancestors that get Envoy Gateway's status is reported and held to
// a floor; each difference is put down to a cause (a kind btp skips, a field
// it refuses, a check that runs before translation in a cluster), and a
// difference without such a cause fails the test.

// conformanceFloor is the share of policy ancestors (Envoy Gateway's and
// btp's together) whose conditions must equal Envoy Gateway's.
const conformanceFloor = 0.981

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

// egFixtures are what Envoy Gateway's translator test adds to every case
// (TestTranslate in internal/gatewayapi/translator_test.go): the GatewayClass
// it translates for (envoy-gateway-class, Envoy Gateway's controller) and the
// Services service-1..4 and mirror-service its routes point at. The
// EndpointSlices it adds only carry 7.7.7.7 endpoints, which status does not
// depend on.
const egFixtures = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: envoy-gateway-class}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: v1
kind: Service
metadata: {name: mirror-service, namespace: default}
spec: {clusterIP: 2.2.2.2, ports: [{name: http, port: 8080, targetPort: 8080, protocol: TCP}]}
`

func egServiceFixture(i int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: service-%d, namespace: default}
spec:
  clusterIP: 1.1.1.1
  ports:
  - {name: http, port: 8080, targetPort: 8080, protocol: TCP}
  - {name: https, port: 8443, targetPort: 8443, protocol: TCP}
  - {name: tcp, port: 8163, targetPort: 8163, protocol: TCP}
  - {name: udp, port: 8162, targetPort: 8162, protocol: UDP}
`, i)
}

// egInput turns an Envoy Gateway test input (lists by resource type, keys
// matched case-insensitively as its loader does) into multi-document YAML
// holding every object of the case, plus the test's fixtures; policies is
// how many distinct BackendTrafficPolicies it holds. Policies get
// increasing creationTimestamps in file order: Envoy Gateway's provider
// sorts them before the translator sees them, and its tests list them in
// that order. An apiVersion the pinned CRDs do not serve (v1alpha2
// GRPCRoute: its test inputs skip the API server) becomes the kind's first
// served version, as the API server would store it.
func egInput(t *testing.T, path string) (in string, policies int) {
	seen := map[string]bool{}
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sections map[string]any
	if err := yaml.Unmarshal(b, &sections); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(sections))
	for k := range sections {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	crds, err := crdIndex()
	if err != nil {
		t.Fatal(err)
	}
	docs := []string{egFixtures}
	for i := 1; i <= 4; i++ {
		docs = append(docs, egServiceFixture(i))
	}
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, key := range keys {
		objs, ok := sections[key].([]any)
		if !ok {
			objs = []any{sections[key]} // gatewayClass, envoyProxyForGatewayClass
		}
		for i, item := range objs {
			o, ok := item.(map[string]any)
			if !ok {
				continue
			}
			if strings.EqualFold(key, "backendTrafficPolicies") {
				md, _ := o["metadata"].(map[string]any)
				// Names are unique in a cluster; a case that repeats
				// one gets btp's duplicate error for the second.
				if id := fmt.Sprint(md["namespace"], "/", md["name"]); !seen[id] {
					seen[id] = true
					policies++
				}
				if _, ok := md["creationTimestamp"]; !ok {
					md["creationTimestamp"] = base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
				}
			}
			delete(o, "status")
			if av, _ := o["apiVersion"].(string); av != "" {
				group, version := splitAPIVersion(av)
				served := crds.served[groupKind(group, fmt.Sprint(o["kind"]))]
				if len(served) > 0 && !contains(served, version) {
					o["apiVersion"] = group + "/" + served[0]
				}
				fieldCase(crds.schemas[fmt.Sprint(o["apiVersion"], "/", o["kind"])], o)
			}
			y, err := yaml.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, string(y))
		}
	}
	return strings.Join(docs, "---\n"), policies
}

// fieldCase spells obj's field names as the schema does where they match
// only case-insensitively: Envoy Gateway's tests load their inputs with
// encoding/json, which matches field names that way (one spells
// retry.perRetry.backOff "backoff"); the API server would refuse them.
func fieldCase(s *spec.Schema, obj any) {
	if s == nil {
		return
	}
	switch v := obj.(type) {
	case map[string]any:
		for name, child := range v {
			if _, ok := s.Properties[name]; ok {
				continue
			}
			for prop := range s.Properties {
				if strings.EqualFold(prop, name) {
					delete(v, name)
					v[prop] = child
				}
			}
		}
		for name, child := range v {
			if prop, ok := s.Properties[name]; ok {
				fieldCase(&prop, child)
			}
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for _, item := range v {
				fieldCase(s.Items.Schema, item)
			}
		}
	}
}

// egStatuses reads the expected statuses: ns/name -> ancestor key -> the
// ancestor's conditions as YAML, and the whole list as YAML (order counts).
func egStatuses(t *testing.T, path string) (map[string]map[string]string, map[string]string) {
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
	each, whole := map[string]map[string]string{}, map[string]string{}
	for _, p := range out.Policies {
		id := p.Metadata.Namespace + "/" + p.Metadata.Name
		each[id], whole[id] = normalizeAncestors(t, p.Status["ancestors"])
	}
	return each, whole
}

// normalizeAncestors drops what no controller run fixes (transition times,
// generations) and returns each ancestor's conditions by ancestor key, and
// the whole list.
func normalizeAncestors(t *testing.T, anc any) (map[string]string, string) {
	t.Helper()
	list, _ := anc.([]any)
	if list == nil {
		list = []any{} // no ancestors: what Envoy Gateway's absent entry means too
	}
	each := map[string]string{}
	for _, a := range list {
		am := a.(map[string]any)
		for _, c := range am["conditions"].([]any) {
			cm := c.(map[string]any)
			delete(cm, "lastTransitionTime")
			delete(cm, "observedGeneration")
		}
		ref, _ := am["ancestorRef"].(map[string]any)
		key := fmt.Sprintf("%v/%v/%v", ref["namespace"], ref["name"], ref["sectionName"])
		y, err := yaml.Marshal(am["conditions"])
		if err != nil {
			t.Fatal(err)
		}
		each[key] = string(y)
	}
	y, err := yaml.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	return each, string(y)
}

// tally counts policy ancestors: all of them, those with Envoy Gateway's
// conditions, those with its Accepted condition, and the differences by
// cause.
type tally struct {
	ancestors, same, sameAccepted int
	causes                        map[string]int
	casesByCause                  map[string][]string
}

func (c *tally) differ(cause, where string, n int) {
	c.causes[cause] += n
	c.casesByCause[cause] = append(c.casesByCause[cause], where)
}

var acceptedRe = regexp.MustCompile(`(?s)- message: [^\n]*\n(?:  [^\n]*\n)*?  reason: (\S+)\n  status: "(\S+)"\n  type: Accepted\n`)

// acceptedOf returns the Accepted condition's reason and status.
func acceptedOf(conds string) string {
	if m := acceptedRe.FindStringSubmatch(conds); m != nil {
		return m[1] + "/" + m[2]
	}
	return ""
}

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
	c := &tally{causes: map[string]int{}, casesByCause: map[string][]string{}}
	loaded, policiesRead, rulesCompared, rulesWithPolicy, rulesDirect, rulesDirectSame := 0, 0, 0, 0, 0, 0
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			input, policies := egInput(t, in)
			m, err := Load([]string{"-"}, strings.NewReader(input))
			if m == nil {
				t.Fatalf("not loaded: %v", err)
			}
			if len(m.Policies) != policies {
				t.Fatalf("read %d of the case's %d BackendTrafficPolicies", len(m.Policies), policies)
			}
			loaded++
			policiesRead += policies
			var errs ErrorList
			if err != nil {
				errs = err.(ErrorList)
			}
			causes := caseCauses(m, errs)
			wantEach, wantWhole := egStatuses(t, strings.TrimSuffix(in, ".in.yaml")+".out.yaml")
			for _, p := range m.Policies {
				id := p.Namespace + "/" + p.Name
				doc, err := StatusDocument(p)
				if err != nil {
					t.Fatal(err)
				}
				gotEach, gotWhole := normalizeAncestors(t, doc["status"].(map[string]any)["ancestors"])
				w, ok := wantWhole[id]
				if !ok {
					w = "[]\n" // Envoy Gateway lists only the policies it attached
				}
				keys := map[string]bool{}
				for k := range gotEach {
					keys[k] = true
				}
				for k := range wantEach[id] {
					keys[k] = true
				}
				differ := 0
				for k := range keys {
					c.ancestors++
					g, wa := gotEach[k], wantEach[id][k]
					if g == wa {
						c.same++
					} else {
						differ++
					}
					if g != "" && acceptedOf(g) == acceptedOf(wa) {
						c.sameAccepted++
					}
				}
				if differ == 0 && gotWhole != w {
					differ = 1 // the same ancestors in another order
					c.ancestors++
				}
				if differ == 0 {
					continue
				}
				cause := causes.of(id)
				c.differ(cause, name+" "+id, differ)
				msg := fmt.Sprintf("%s status.ancestors (%s):\n got:\n%s\nwant (Envoy Gateway):\n%s", id, cause, gotWhole, w)
				if cause == causeUnexplained {
					t.Error(msg)
				} else {
					t.Log(msg)
				}
			}
			// Which policy each rule ended up with (precedence, merge,
			// conflicts), where Envoy Gateway's output says.
			mine := btpApplied(m)
			for k, want := range egApplied(t, strings.TrimSuffix(in, ".in.yaml")+".out.yaml") {
				rulesCompared++
				if want != "" {
					rulesWithPolicy++
				}
				if want == directResponse {
					rulesDirect++
					if mine[k] == want {
						rulesDirectSame++
					}
				}
				if got, ok := mine[k]; !ok || got != want {
					msg := fmt.Sprintf("rule %d of %s on %s: btp applies %q, Envoy Gateway %q", k.rule, k.route, k.listener, got, want)
					if cause := causes.of(want); cause != causeUnexplained {
						t.Logf("%s (%s)", msg, cause)
					} else {
						t.Error(msg)
					}
				}
			}
		})
	}
	share := float64(c.same) / float64(max(c.ancestors, 1))
	t.Logf("loaded %d of %d Envoy Gateway cases with BackendTrafficPolicies (%d policies); %d of %d policy ancestors (%.1f%%) get Envoy Gateway's status, %d (%.1f%%) its Accepted condition; the policy applied to %d route rules compared (%d with a policy; %d answer 500 in Envoy Gateway, %d of them in btp)",
		loaded, len(ins), policiesRead, c.same, c.ancestors, 100*share, c.sameAccepted, 100*float64(c.sameAccepted)/float64(max(c.ancestors, 1)), rulesCompared, rulesWithPolicy, rulesDirect, rulesDirectSame)
	causes := make([]string, 0, len(c.causes))
	for k := range c.causes {
		causes = append(causes, k)
	}
	sort.Slice(causes, func(i, j int) bool { return c.causes[causes[i]] > c.causes[causes[j]] })
	for _, k := range causes {
		t.Logf("  %3d ancestors differ: %s (%s)", c.causes[k], k, strings.Join(c.casesByCause[k], ", "))
	}
	if loaded != len(ins) || len(ins) < 140 {
		t.Errorf("loaded %d of %d cases, want every one of at least 140", loaded, len(ins))
	}
	if share < conformanceFloor {
		t.Errorf("%.1f%% of policy ancestors get Envoy Gateway's status, want at least %.0f%%", 100*share, 100*conformanceFloor)
	}
	if rulesDirect < 10 {
		t.Errorf("compared %d rules that answer 500 in Envoy Gateway, want at least 10", rulesDirect)
	}
	if rulesCompared < 50 || rulesWithPolicy < 40 {
		t.Errorf("compared the applied policy of %d route rules (%d with a policy), want at least 50 (40)", rulesCompared, rulesWithPolicy)
	}
}

const causeUnexplained = "unexplained"

// caseCauses explains, for one case, why a policy's status may differ from
// Envoy Gateway's: what btp refused in that policy, else what it skipped or
// refused elsewhere in the case.
type caseCausesT struct {
	byPolicy map[string]string
	general  string
}

func (c caseCausesT) of(policy string) string {
	if s, ok := c.byPolicy[policy]; ok {
		return s
	}
	if c.general != "" {
		return c.general
	}
	return causeUnexplained
}

var indexRe = regexp.MustCompile(`\[\d+\]`)

func caseCauses(m *Model, errs ErrorList) caseCausesT {
	out := caseCausesT{byPolicy: map[string]string{}}
	var general []string
	add := func(s string) {
		if !contains(general, s) {
			general = append(general, s)
		}
	}
	for _, w := range m.Warnings {
		if k, ok := strings.CutPrefix(w.Msg, "skipped "); ok {
			f := strings.Fields(k)
			add("reads no " + f[1])
		}
	}
	for _, e := range errs {
		what := errorCause(e)
		if id, ok := strings.CutPrefix(e.Resource, "BackendTrafficPolicy/"); ok {
			if _, seen := out.byPolicy[id]; !seen {
				out.byPolicy[id] = "policy: " + what
				add("another policy: " + what) // it changes its neighbours' status too
			}
			continue
		}
		kind, _, _ := strings.Cut(e.Resource, "/")
		add(kind + ": " + what)
	}
	sort.Strings(general)
	out.general = strings.Join(general, "; ")
	return out
}

// errorCause is an error reduced to its field and the gist of the message,
// without indexes or values, so like errors count together.
func errorCause(e *Error) string {
	f := indexRe.ReplaceAllString(e.Field, "[]")
	msg := e.Msg
	if i := strings.IndexAny(msg, ":\"("); i > 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(f + " " + strings.TrimSpace(msg))
}

// ruleKey names one HTTPRoute rule on one Gateway listener.
type ruleKey struct {
	listener, route string
	rule            int
}

// directResponse stands for a rule that answers 500 instead of routing:
// Envoy Gateway's direct response for a rule whose policy failed
// translation, btp's Rule.PolicyError.
const directResponse = "(500 direct response)"

// egApplied reads, from a case's xdsIR, which BackendTrafficPolicy Envoy
// Gateway applied to each route rule on each listener (the first
// BackendTrafficPolicy in the route's metadata; "" for none; directResponse
// for a route that answers 500).
func egApplied(t *testing.T, path string) map[ruleKey]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		XdsIR map[string]struct {
			HTTP []egListener
			TCP  []egListener
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
				if len(parts) < 5 || parts[0] != "httproute" || parts[3] != "rule" {
					continue
				}
				var i int
				if _, err := fmt.Sscan(parts[4], &i); err != nil {
					continue
				}
				applied := ""
				if r.DirectResponse != nil {
					applied = directResponse
				}
				for _, p := range r.Metadata.Policies {
					if p.Kind == "BackendTrafficPolicy" {
						applied = p.Namespace + "/" + p.Name
						break
					}
				}
				m[ruleKey{l.Name, parts[1] + "/" + parts[2], i}] = applied
			}
		}
		// TCP and TLS routes (tcproute/<ns>/<name>, tlsroute/...): one rule each; Envoy Gateway
		// fills them field by field, its metadata lists the most specific
		// contributing policy first.
		for _, l := range x.TCP {
			for _, r := range l.Routes {
				parts := strings.Split(r.Name, "/")
				if len(parts) != 3 || (parts[0] != "tcproute" && parts[0] != "tlsroute") {
					continue
				}
				applied := ""
				for _, p := range r.Metadata.Policies {
					if p.Kind == "BackendTrafficPolicy" {
						applied = p.Namespace + "/" + p.Name
						break
					}
				}
				m[ruleKey{l.Name, parts[1] + "/" + parts[2], 0}] = applied
			}
		}
	}
	return m
}

// egListener is one xdsIR listener with its routes, as egApplied reads it.
type egListener struct {
	Name   string
	Routes []struct {
		Name           string
		DirectResponse any `json:"directResponse"`
		Metadata       struct {
			Policies []struct{ Kind, Name, Namespace string }
		}
	}
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
					switch {
					case rule.PolicyError != "":
						applied = directResponse
					case len(rule.PolicySources) > 0:
						applied = rule.PolicySources[0].String()
					}
					out[ruleKey{g.Name.String() + "/" + l.Name, r.Name.String(), rule.Index}] = applied
				}
			}
		}
	}
	return out
}
