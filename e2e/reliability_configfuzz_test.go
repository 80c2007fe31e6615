package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// Probe 5: config fuzz. btp render writes every per-route feature
// (testdata/reliability-fuzz.yaml.tmpl); each seeded mutation changes one
// route's per-route JSON (drop, null, retype, extreme or hostile values,
// unknown fields, broken JSON) and a real Envoy is started on it, since the
// module parses the config only when Envoy loads it (--mode validate does
// not run the module). Each mutation is rejected (Envoy exits non-zero, its
// log carrying btp's error), or accepted (Envoy ready; requests to the
// mutated route and another route are answered or time out, and Envoy
// stays up and stops cleanly). Crashed (a signal death, Envoy's crash
// handler, a Go fatal error, an exit after being ready, a hang on stop)
// must be 0. `btp check` on the same bootstrap must give Envoy's verdict.
func TestReliabilityConfigFuzz(t *testing.T) {
	be := startHashBackend(t)
	v := harness.NewVars(t, nil)
	v.Values = map[string]any{"BackendPort": be.port, "Routes": []string{"limit", "fault", "override", "plain"}}
	boot := harness.Render(t, harness.Execute(t, "testdata/reliability-fuzz.yaml.tmpl", v), v.AdminPort)
	for name, addrs := range harness.ClusterAddrs(t, boot) {
		for _, a := range addrs {
			if !strings.HasPrefix(a, "127.") {
				t.Fatalf("cluster %s: address %s is outside loopback", name, a)
			}
		}
	}
	targets := fuzzTargets(t, boot)
	if len(targets) != 3 {
		t.Fatalf("found %d btp per-route configs in the rendered bootstrap, want 3", len(targets))
	}

	n := scale(8, 520)
	rng := rand.New(rand.NewPCG(13, 5))
	tally := map[string]int{}
	agreed, compared := 0, 0
	var crashes []string
	deadline := time.Now().Add(time.Duration(scale(90, 1500)) * time.Second)
	start := time.Now()
	for i := range n {
		if time.Now().After(deadline) {
			tally["not run: deadline"] += n - i
			break
		}
		tg := targets[rng.IntN(len(targets))]
		mutated, what, strict := mutateConfig(rng, tg.value)
		outcome, detail, checked := runMutation(t, boot, v, tg, mutated)
		tally[outcome]++
		// btp check (the hosts' own parsers) must say what Envoy did.
		if outcome == "rejected" || outcome == "accepted" {
			compared++
			if checked == outcome {
				agreed++
			}
		}
		if (outcome == "rejected" || outcome == "accepted") && checked != outcome {
			t.Errorf("mutation %d (%s on %s): Envoy %s it, btp check %s\nconfig: %s", i, what, tg.path, outcome, checked, mutated)
		}
		if outcome == "crashed" {
			crashes = append(crashes, fmt.Sprintf("mutation %d (%s on %s): %s\nconfig: %s", i, what, tg.path, detail, mutated))
		}
		// Parsing is strict: an unknown field or a null anywhere is refused
		// at load (issue 13, point 3), never taken as a default.
		if strict != "" && outcome != "rejected" {
			t.Errorf("mutation %d (%s on %s) was %s, want rejected: %s", i, what, tg.path, outcome, detail)
		}
		if testing.Verbose() && !relFull {
			t.Logf("mutation %d (%s on %s): %s %s", i, what, tg.path, outcome, detail)
		}
	}
	figure(t, "%d mutations in %.0fs: %v; btp check gave Envoy's verdict on %d of %d", n, time.Since(start).Seconds(), tally, agreed, compared)
	for _, c := range crashes {
		t.Error(c)
	}
	if tally["not run: deadline"] > 0 {
		t.Errorf("%d mutations not run before the deadline", tally["not run: deadline"])
	}
}

// fuzzTarget is one route's btp per-route config in the rendered bootstrap.
type fuzzTarget struct {
	index int    // among the btp per-route configs, in walk order
	path  string // the route's path_separated_prefix
	value string // the per-route JSON
}

func fuzzTargets(t *testing.T, boot string) []fuzzTarget {
	var m map[string]any
	if err := yaml.Unmarshal([]byte(boot), &m); err != nil {
		t.Fatal(err)
	}
	var out []fuzzTarget
	walkRoutes(m, func(route map[string]any, cfg map[string]any) {
		match, _ := route["match"].(map[string]any)
		path, _ := match["path_separated_prefix"].(string)
		val, _ := cfg["value"].(string)
		out = append(out, fuzzTarget{index: len(out), path: path, value: val})
	})
	return out
}

// walkRoutes calls f for every route with a btp per-route config, with the
// route and the config's StringValue.
func walkRoutes(v any, f func(route, cfg map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if tpf, ok := x["typed_per_filter_config"].(map[string]any); ok {
			if dm, ok := tpf["envoy.filters.http.dynamic_modules"].(map[string]any); ok {
				if inner, ok := dm["config"].(map[string]any); ok {
					dm = inner // btp render's FilterConfig, enabling the disabled module filter
				}
				if cfg, ok := dm["filter_config"].(map[string]any); ok {
					f(x, cfg)
				}
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys) // a stable walk order, so indexes mean the same route
		for _, k := range keys {
			walkRoutes(x[k], f)
		}
	case []any:
		for _, c := range x {
			walkRoutes(c, f)
		}
	}
}

// runMutation starts Envoy on boot with target tg's config replaced by
// mutated, on fresh ports, and classifies what happened.
func runMutation(t *testing.T, boot string, v harness.Vars, tg fuzzTarget, mutated string) (outcome, detail, checked string) {
	var m map[string]any
	if err := yaml.Unmarshal([]byte(boot), &m); err != nil {
		t.Fatal(err)
	}
	idx := 0
	walkRoutes(m, func(_, cfg map[string]any) {
		if idx == tg.index {
			cfg["value"] = mutated
		}
		idx++
	})
	port, admin := harness.FreePort(t), harness.FreePort(t)
	setPorts(m, v.Port, port, v.AdminPort, admin)
	out, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	checked = btpCheck(t, out)
	outcome, detail = startMutated(t, string(out), port, admin, tg)
	return outcome, detail, checked
}

// btpCheck runs `btp check` on the bootstrap: "rejected" (exit 1),
// "accepted" (exit 0) or what else happened.
func btpCheck(t *testing.T, boot []byte) string {
	f := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(f, boot, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(harness.BtpBinary(t), "check", f).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "accepted"
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return "rejected"
	}
	return fmt.Sprintf("btp check: %v: %s", err, out)
}

// startMutated starts Envoy on the mutated bootstrap and classifies what
// it did.
func startMutated(t *testing.T, out string, port, admin int, tg fuzzTarget) (outcome, detail string) {
	e, ready := harness.TryEnvoy(t, out, admin)
	defer e.Stop()
	if !ready {
		state, _ := e.WaitExit(5 * time.Second)
		log := e.Log()
		if crashed, why := harness.Crashed(state, log); crashed {
			return "crashed", why
		}
		if state == nil || state.Success() {
			return "crashed", fmt.Sprintf("exited before ready with %v", state)
		}
		if !strings.Contains(log, "btp") {
			return "rejected (not by btp)", lastLine(log)
		}
		return "rejected", btpError(log)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var answers []string
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	for _, u := range []string{base + tg.path + "?q=1", base + "/fz/plain"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, _ := http.NewRequest(method, u, strings.NewReader("body"))
			req.Header.Set("x-user", "u1")
			req.Header.Set("x-plan", "free")
			resp, err := client.Do(req)
			if err != nil {
				answers = append(answers, "error")
				continue
			}
			resp.Body.Close()
			answers = append(answers, strconv.Itoa(resp.StatusCode))
		}
	}
	if !e.Running() || !e.Ready() {
		state, _ := e.WaitExit(5 * time.Second)
		return "crashed", fmt.Sprintf("envoy died serving requests (%v): %s", state, lastLine(e.Log()))
	}
	t0 := time.Now()
	e.Stop()
	state, _ := e.WaitExit(0)
	if crashed, why := harness.Crashed(state, e.Log()); crashed {
		return "crashed", "on stop: " + why
	}
	if took := time.Since(t0); took > 4500*time.Millisecond {
		return "crashed", fmt.Sprintf("hung on SIGTERM (%v)", took)
	}
	return "accepted", strings.Join(answers, " ")
}

func setPorts(m map[string]any, oldPort, port, oldAdmin, admin int) {
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if sa, ok := x["socket_address"].(map[string]any); ok {
				if p, ok := sa["port_value"].(float64); ok {
					switch int(p) {
					case oldPort:
						sa["port_value"] = port
					case oldAdmin:
						sa["port_value"] = admin
					}
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(m)
}

func lastLine(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	return lines[len(lines)-1]
}

// btpError is the line of Envoy's log with btp's config error.
func btpError(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, "btp "); i >= 0 && strings.Contains(l, "config") {
			return l[i:min(len(l), i+200)]
		}
	}
	return lastLine(log)
}

// hostile are values a careless operator or an attacker could write.
var hostile = []any{
	nil, true, false, 0, -1, 1, 0.5, -0.0, 1e308, -1e308, 4294967295, 4294967296, 9223372036854775807,
	9.223372036854775808e18, 1.8446744073709552e19, 1e30, "", " ", "\x00", "a b", "\u00ff\ufffd", "-1", "0", "1.5",
	"999999999999999999999", "0ms", "1.5s", "-1s", "99999h", "1d", "10000000h", "0Mi", "-1Mi", "1Ei", "9999999999999Ei",
	"Second", "Sec", "Distinct", "Exact", "RegularExpression", "(", "[", "a{99999}", "(a+)+$", "10.0.0.0/33",
	"::/0", "0.0.0.0/0", "%REQ(", "%RESPONSE_CODE%", "%DYNAMIC_METADATA(x:y)%", strings.Repeat("a", 10000),
	[]any{}, []any{nil}, map[string]any{}, map[string]any{"unknown": 1},
}

// mutateConfig applies one to three seeded mutations to the JSON config
// (or breaks the JSON text itself) and says what it did. strict is
// "unknown" when every mutation added an unknown field, "null" when each
// added an unknown field or set a value to null (at least one null): a
// config the strict parser must refuse. Otherwise it is "".
func mutateConfig(rng *rand.Rand, src string) (mutated, what, strict string) {
	if rng.IntN(10) == 0 {
		b := []byte(src)
		switch rng.IntN(4) {
		case 0:
			return string(b[:rng.IntN(len(b))]), "truncated JSON", ""
		case 1:
			b[rng.IntN(len(b))] = "{}[],:\"\\0x"[rng.IntN(10)]
			return string(b), "one byte replaced", ""
		case 2:
			return src + src, "JSON twice", ""
		default:
			return strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "10000-deep nesting", ""
		}
	}
	var doc any
	if err := json.Unmarshal([]byte(src), &doc); err != nil {
		panic(err) // btp render wrote it
	}
	var did []string
	unknowns, nulls := 0, 0
	rootNull := false // a config that is null as a whole may mean "none"
	// Mostly one mutation, so that some configs stay valid and are
	// served; sometimes two or three.
	times := 1
	if rng.IntN(4) == 0 {
		times += 1 + rng.IntN(2)
	}
	for range times {
		var nodes []*node
		collect(&node{get: func() any { return doc }, set: func(x any) { doc = x }, path: "$"}, &nodes)
		nd := nodes[rng.IntN(len(nodes))]
		switch op := rng.IntN(7); op {
		case 0:
			if nd.del != nil {
				nd.del()
				did = append(did, "drop "+nd.path)
				continue
			}
			fallthrough
		case 1, 2:
			val := hostile[rng.IntN(len(hostile))]
			nd.set(val)
			if val == nil {
				nulls++
				rootNull = rootNull || nd.path == "$"
			}
			did = append(did, fmt.Sprintf("%s = %.40s", nd.path, fmt.Sprint(val)))
		case 3:
			if obj, ok := nd.get().(map[string]any); ok {
				obj["bogus"+strconv.Itoa(rng.IntN(9))] = 1
				unknowns++
				did = append(did, "unknown field in "+nd.path)
				continue
			}
			nd.set(nil)
			nulls++
			rootNull = rootNull || nd.path == "$"
			did = append(did, nd.path+" = null")
		case 4:
			if arr, ok := nd.get().([]any); ok && len(arr) > 0 {
				more := slices.Repeat(arr[:1], 500)
				nd.set(append(more, arr...))
				did = append(did, "500 copies in "+nd.path)
				continue
			}
			nd.set([]any{nd.get()})
			did = append(did, nd.path+" wrapped in an array")
		case 5:
			// Another node's value here: a status where a duration goes.
			other := nodes[rng.IntN(len(nodes))]
			nd.set(deepCopy(other.get()))
			did = append(did, nd.path+" = value of "+other.path)
		default:
			switch x := nd.get().(type) {
			case float64:
				y := []float64{-x, x * 1e6, x + 0.5, 0, -1}[rng.IntN(5)]
				if math.IsInf(y, 0) {
					nd.set(json.Number("1e999")) // valid JSON, no float64
				} else {
					nd.set(y)
				}
			case string:
				nd.set([]string{strings.ToUpper(x), x + " ", " " + x, x + "\x00", strings.Repeat(x, 100), x[:len(x)/2]}[rng.IntN(6)])
			default:
				nd.set(fmt.Sprint(x))
			}
			did = append(did, "tweak "+nd.path)
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	switch {
	case rootNull:
	case unknowns+nulls == times && nulls > 0:
		strict = "null"
	case unknowns == times:
		strict = "unknown"
	}
	return string(out), strings.Join(did, "; "), strict
}

type node struct {
	get  func() any
	set  func(any)
	del  func() // nil for the root and array elements
	path string
}

func collect(n *node, out *[]*node) {
	*out = append(*out, n)
	switch x := n.get().(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			collect(&node{get: func() any { return x[k] }, set: func(v any) { x[k] = v }, del: func() { delete(x, k) }, path: n.path + "." + k}, out)
		}
	case []any:
		for i := range x {
			collect(&node{get: func() any { return x[i] }, set: func(v any) { x[i] = v }, path: fmt.Sprintf("%s[%d]", n.path, i)}, out)
		}
	}
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}
