package bootstrap

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/envoy-btp/envoy-btp/policy"
)

var egUpdate = flag.Bool("eg-update", false,
	"rewrite testdata/egcompare/*.eg.yaml by running Envoy Gateway v1.9.1's translator (testdata/egtranslate; compiles Envoy Gateway: minutes)")

// egOutput is what testdata/egtranslate writes for one fixture: Envoy
// Gateway's own translator output.
type egOutput struct {
	Listeners []struct {
		Name    string `json:"name"`
		Filters []struct {
			Name   string          `json:"name"`
			Config json.RawMessage `json:"config"`
		} `json:"filters"`
	} `json:"listeners"`
	Routes []struct {
		Name       string                     `json:"name"`
		PerFilter  map[string]json.RawMessage `json:"perFilter"`
		RateLimits []json.RawMessage          `json:"rateLimits"`
	} `json:"routes"`
	Service []json.RawMessage `json:"service"`
}

// rlsConfig mirrors the RateLimitConfig proto Envoy Gateway sends the rate
// limit service (github.com/envoyproxy/go-control-plane/ratelimit config v3),
// decoded strictly: a field Envoy Gateway sets that btp does not model fails
// the comparison instead of being dropped.
type rlsConfig struct {
	Name        string           `json:"name,omitempty"`
	Domain      string           `json:"domain"`
	Descriptors []*rlsDescriptor `json:"descriptors,omitempty"`
}

type rlsDescriptor struct {
	Key         string           `json:"key"`
	Value       string           `json:"value,omitempty"`
	RateLimit   *rlsPolicy       `json:"rate_limit,omitempty"`
	ShadowMode  bool             `json:"shadow_mode,omitempty"`
	Descriptors []*rlsDescriptor `json:"descriptors,omitempty"`
}

type rlsPolicy struct {
	Unit            string `json:"unit"`
	RequestsPerUnit uint32 `json:"requests_per_unit,omitempty"`
}

// TestRateLimitMatchesEnvoyGateway renders every testdata/egcompare
// fixture with btp and compares, key for key, with Envoy Gateway v1.9.1's
// translator output for the same input (<name>.eg.yaml, written by
// testdata/egtranslate, a module that imports Envoy Gateway's internal
// translator packages): every listener's ratelimit filters (names, order,
// config), every route's RateLimitPerRoute per filter (domain and every
// rate_limits action), and the rate limit service config per domain
// (descriptor keys, values, order, limits, shadow_mode).
func TestRateLimitMatchesEnvoyGateway(t *testing.T) {
	if *egUpdate {
		cmd := exec.Command("go", "run", ".", "-dir", "../egcompare")
		cmd.Dir = filepath.Join("testdata", "egtranslate")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("egtranslate: %v\n%s", err, out)
		}
	}
	ins, err := filepath.Glob("testdata/egcompare/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no fixtures in testdata/egcompare: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			eg := readEGOutput(t, in, filepath.Join("testdata", "egcompare", name+".eg.yaml"))
			m, err := policy.Load([]string{in}, nil)
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{}
			if strings.Contains(name, "failclosed") { // as testdata/egtranslate translates it
				opts.RateLimitFailClosed, opts.RateLimitTimeout = true, 50*time.Millisecond
			}
			out, err := RenderAll(m, opts)
			if err != nil {
				t.Fatal(err)
			}
			compareEGFilters(t, eg, out.Bootstrap)
			compareEGRoutes(t, eg, out.Bootstrap)
			compareEGService(t, eg, out.RateLimit, strings.HasSuffix(name, "-merged"))
		})
	}
}

// readEGOutput reads Envoy Gateway's output for the fixture in, failing
// when it was generated from another version of in.
func readEGOutput(t *testing.T, in, file string) *egOutput {
	t.Helper()
	y, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run `make golden-eg`)", err)
	}
	src, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("# input sha256: %x\n", sha256.Sum256(src)); !bytes.Contains(y, []byte(want)) {
		t.Fatalf("%s was generated from another version of %s: run `make golden-eg`", file, in)
	}
	js, err := sigsyaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	eg := &egOutput{}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(eg); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(eg.Routes) == 0 || len(eg.Service) == 0 {
		t.Fatalf("%s: Envoy Gateway rendered no rate limited route or no service config: nothing to compare", file)
	}
	return eg
}

// hcms yields every HTTP connection manager of b by listener name.
func hcms(t *testing.T, b *bootstrapv3.Bootstrap) map[string][]*hcmv3.HttpConnectionManager {
	t.Helper()
	out := map[string][]*hcmv3.HttpConnectionManager{}
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range append(l.GetFilterChains(), l.GetDefaultFilterChain()) {
			for _, f := range fc.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(hcm) == nil {
					out[l.Name] = append(out[l.Name], hcm)
				}
			}
		}
	}
	return out
}

func compareEGFilters(t *testing.T, eg *egOutput, b *bootstrapv3.Bootstrap) {
	t.Helper()
	btp := map[string][]*ratelimitv3.RateLimit{}
	names := map[string][]string{}
	for l, hs := range hcms(t, b) {
		for _, hcm := range hs {
			for _, hf := range hcm.GetHttpFilters() {
				rl := &ratelimitv3.RateLimit{}
				if hf.GetTypedConfig().UnmarshalTo(rl) == nil {
					btp[l] = append(btp[l], rl)
					names[l] = append(names[l], hf.Name)
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, l := range eg.Listeners {
		seen[l.Name] = true
		var egNames []string
		for _, f := range l.Filters {
			egNames = append(egNames, f.Name)
		}
		if strings.Join(egNames, " ") != strings.Join(names[l.Name], " ") {
			t.Errorf("listener %s: ratelimit filters %q, Envoy Gateway %q", l.Name, names[l.Name], egNames)
			continue
		}
		for i, f := range l.Filters {
			want := &ratelimitv3.RateLimit{}
			unmarshalEG(t, f.Config, want)
			if !proto.Equal(want, btp[l.Name][i]) {
				t.Errorf("listener %s filter %s:\n%s", l.Name, f.Name, protoDiff(want, btp[l.Name][i]))
			}
		}
	}
	for l := range btp {
		if !seen[l] {
			t.Errorf("listener %s has ratelimit filters %q; Envoy Gateway renders none", l, names[l])
		}
	}
}

func compareEGRoutes(t *testing.T, eg *egOutput, b *bootstrapv3.Bootstrap) {
	t.Helper()
	btp := map[string]*routev3.Route{}
	for _, hs := range hcms(t, b) {
		for _, hcm := range hs {
			for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
				for _, r := range vh.GetRoutes() {
					if len(r.GetRoute().GetRateLimits()) > 0 || len(rateLimitPerRoute(r)) > 0 {
						if btp[r.Name] != nil {
							t.Errorf("route name %s twice", r.Name)
						}
						btp[r.Name] = r
					}
				}
			}
		}
	}
	for _, er := range eg.Routes {
		r := btp[er.Name]
		delete(btp, er.Name)
		if r == nil {
			t.Errorf("route %s: Envoy Gateway rate limits it, btp has no rate limited route of that name", er.Name)
			continue
		}
		if got := r.GetRoute().GetRateLimits(); len(got) != len(er.RateLimits) {
			t.Errorf("route %s: %d route-level rate_limits, Envoy Gateway %d", er.Name, len(got), len(er.RateLimits))
		} else {
			for i, raw := range er.RateLimits {
				want := &routev3.RateLimit{}
				unmarshalEG(t, raw, want)
				if !proto.Equal(want, got[i]) {
					t.Errorf("route %s rate_limits[%d]:\n%s", er.Name, i, protoDiff(want, got[i]))
				}
			}
		}
		per := rateLimitPerRoute(r)
		for f, raw := range er.PerFilter {
			want := &ratelimitv3.RateLimitPerRoute{}
			unmarshalEG(t, raw, want)
			got := per[f]
			delete(per, f)
			if got == nil {
				t.Errorf("route %s: no RateLimitPerRoute for filter %s", er.Name, f)
			} else if !proto.Equal(want, got) {
				t.Errorf("route %s filter %s:\n%s", er.Name, f, protoDiff(want, got))
			}
		}
		for f := range per {
			t.Errorf("route %s: RateLimitPerRoute for filter %s, which Envoy Gateway does not set", er.Name, f)
		}
	}
	for n := range btp {
		t.Errorf("route %s: rate limited by btp, not by Envoy Gateway", n)
	}
}

func rateLimitPerRoute(r *routev3.Route) map[string]*ratelimitv3.RateLimitPerRoute {
	out := map[string]*ratelimitv3.RateLimitPerRoute{}
	for name, a := range r.GetTypedPerFilterConfig() {
		per := &ratelimitv3.RateLimitPerRoute{}
		if a.UnmarshalTo(per) == nil {
			out[name] = per
		}
	}
	return out
}

// compareEGService compares the service configs exactly or, for merged
// (a fixture where btp merges what Envoy Gateway duplicates), as the chains
// and limits each holds, after checking that Envoy Gateway's has the sibling
// duplicate the service would refuse.
func compareEGService(t *testing.T, eg *egOutput, cfgs []*RateLimitConfig, merged bool) {
	t.Helper()
	var want []*rlsConfig
	for _, raw := range eg.Service {
		c := &rlsConfig{}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			t.Fatalf("Envoy Gateway service config: %v\n%s", err, raw)
		}
		if c.Name != c.Domain {
			t.Errorf("Envoy Gateway service config named %q for domain %q", c.Name, c.Domain)
		}
		c.Name = "" // the service's YAML config has no name; btp writes one file per domain
		want = append(want, c)
	}
	got := make([]*rlsConfig, 0, len(cfgs))
	for _, c := range cfgs {
		got = append(got, &rlsConfig{Domain: c.Domain, Descriptors: toRLS(c.Descriptors)})
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Domain < got[j].Domain })
	if merged {
		dup := false
		for _, c := range want {
			dup = dup || hasDuplicateSibling(c.Descriptors)
		}
		if !dup {
			t.Errorf("Envoy Gateway's service config has no duplicate sibling descriptor: compare this fixture exactly (drop -merged from its name)")
		}
		w, g := chains(want), chains(got)
		if strings.Join(w, "\n") != strings.Join(g, "\n") {
			t.Errorf("service config chains differ from Envoy Gateway's:\nEnvoy Gateway:\n%s\nbtp:\n%s", strings.Join(w, "\n"), strings.Join(g, "\n"))
		}
		return
	}
	w, _ := json.MarshalIndent(want, "", " ")
	g, _ := json.MarshalIndent(got, "", " ")
	if !bytes.Equal(w, g) {
		t.Errorf("rate limit service config differs from Envoy Gateway's at %s\n(btp's whole config:\n%s)", firstDiff(w, g), g)
	}
}

func hasDuplicateSibling(ds []*rlsDescriptor) bool {
	seen := map[[2]string]bool{}
	for _, d := range ds {
		k := [2]string{d.Key, d.Value}
		if seen[k] || hasDuplicateSibling(d.Descriptors) {
			return true
		}
		seen[k] = true
	}
	return false
}

// chains lists every limited descriptor chain of cfgs as one sorted line
// each: domain, key=value path, limit, shadow mode.
func chains(cfgs []*rlsConfig) []string {
	var out []string
	var walk func(prefix string, ds []*rlsDescriptor)
	walk = func(prefix string, ds []*rlsDescriptor) {
		for _, d := range ds {
			p := prefix + " " + d.Key + "=" + d.Value
			if d.RateLimit != nil {
				out = append(out, fmt.Sprintf("%s: %d/%s shadow=%t", p, d.RateLimit.RequestsPerUnit, d.RateLimit.Unit, d.ShadowMode))
			}
			walk(p, d.Descriptors)
		}
	}
	for _, c := range cfgs {
		walk(c.Domain, c.Descriptors)
	}
	sort.Strings(out)
	return out
}

func toRLS(ds []*RateLimitDescriptor) []*rlsDescriptor {
	out := make([]*rlsDescriptor, 0, len(ds))
	for _, d := range ds {
		r := &rlsDescriptor{Key: d.Key, Value: d.Value, ShadowMode: d.ShadowMode}
		if d.RateLimit != nil {
			r.RateLimit = &rlsPolicy{Unit: d.RateLimit.Unit, RequestsPerUnit: d.RateLimit.RequestsPerUnit}
		}
		if len(d.Descriptors) > 0 {
			r.Descriptors = toRLS(d.Descriptors)
		}
		out = append(out, r)
	}
	return out
}

func unmarshalEG(t *testing.T, raw json.RawMessage, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal(raw, m); err != nil {
		t.Fatalf("Envoy Gateway output %T: %v\n%s", m, err, raw)
	}
}

func protoDiff(want, got proto.Message) string {
	o := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}
	w, _ := o.Marshal(want)
	g, _ := o.Marshal(got)
	return "Envoy Gateway vs btp, " + firstDiff(w, g) + "\nbtp:\n" + string(g)
}
