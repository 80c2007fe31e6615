package filter

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// routeConfig is a per-route config naming route with a Distinct x-user
// rule of requests per hour and a default rule of 100 per hour.
func routeConfig(route string, requests int) string {
	r := ""
	if route != "" {
		r = fmt.Sprintf(`,"route":%q`, route)
	}
	return fmt.Sprintf(`{"rateLimit":{"type":"Local","local":{"rules":[`+
		`{"clientSelectors":[{"headers":[{"name":"x-user","type":"Distinct"}]}],"limit":{"requests":%d,"unit":"Hour"}},`+
		`{"limit":{"requests":100,"unit":"Hour"}}]}}%s}`, requests, r)
}

// uniqueRoute keeps runs (-count=N) and tests apart: rule state is
// process-wide.
func uniqueRoute(t *testing.T) string {
	return "rc:" + t.Name() + "/" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func remaining(t *testing.T, c *Config, user string) string {
	t.Helper()
	s := c.NewStream()
	if a := s.OnRequestHeaders(newReq("GET", "/", "x-user", user), true); a.Kind == SendReply {
		return "429"
	}
	resp := newResp()
	s.OnResponseHeaders(200, resp)
	s.OnStreamComplete(1)
	return resp.headers["x-ratelimit-remaining"]
}

// TestRateLimitStateSurvivesReparse is what an RDS push does to a route:
// Envoy parses the route's config again while the old one still serves.
// The unchanged rules keep their buckets; a changed rule starts fresh.
func TestRateLimitStateSurvivesReparse(t *testing.T) {
	e := newEnv()
	route := uniqueRoute(t)
	a := mustConfig(t, routeConfig(route, 3), e.opts())
	if got := remaining(t, a, "alice"); got != "2" {
		t.Fatalf("first request: remaining %s, want 2", got)
	}
	again := mustConfig(t, routeConfig(route, 3), e.opts())
	if got := remaining(t, again, "alice"); got != "1" {
		t.Fatalf("after the re-parse: remaining %s, want 1 (the same bucket)", got)
	}
	if got := remaining(t, again, "bob"); got != "2" {
		t.Fatalf("another client after the re-parse: remaining %s, want 2", got)
	}
	changed := mustConfig(t, routeConfig(route, 5), e.opts())
	if got := remaining(t, changed, "alice"); got != "4" {
		t.Fatalf("changed limit: remaining %s, want 4 (a fresh bucket)", got)
	}
	// The default rule did not change: it kept counting (3 requests so far).
	if a.limiter.def != changed.limiter.def {
		t.Fatal("the unchanged default rule lost its state with the changed rule")
	}
	other := mustConfig(t, routeConfig(route+"-other", 3), e.opts())
	if got := remaining(t, other, "alice"); got != "2" {
		t.Fatalf("same config on another route: remaining %s, want 2 (its own buckets)", got)
	}
	unnamed1 := mustConfig(t, routeConfig("", 3), e.opts())
	remaining(t, unnamed1, "alice")
	unnamed2 := mustConfig(t, routeConfig("", 3), e.opts())
	if got := remaining(t, unnamed2, "alice"); got != "2" {
		t.Fatalf("a config naming no route: remaining %s, want 2 (fresh on every parse)", got)
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(unnamed1)
}

// TestRateLimitStateIdenticalRules: two identical rules of one config keep
// one bucket each, before and after a re-parse.
func TestRateLimitStateIdenticalRules(t *testing.T) {
	e := newEnv()
	route := uniqueRoute(t)
	rule := `{"clientSelectors":[{"headers":[{"name":"x-user","value":"alice"}]}],"limit":{"requests":2,"unit":"Hour"}}`
	js := `{"rateLimit":{"type":"Local","local":{"rules":[` + rule + `,` + rule + `]}},"route":"` + route + `"}`
	a := mustConfig(t, js, e.opts())
	if a.limiter.rules[0] == a.limiter.rules[1] {
		t.Fatal("two identical rules share one state")
	}
	wantKind(t, "1st", a.NewStream().OnRequestHeaders(newReq("GET", "/", "x-user", "alice"), true), Continue)
	b := mustConfig(t, js, e.opts())
	wantKind(t, "2nd, after the re-parse", b.NewStream().OnRequestHeaders(newReq("GET", "/", "x-user", "alice"), true), Continue)
	wantReply(t, "3rd", b.NewStream().OnRequestHeaders(newReq("GET", "/", "x-user", "alice"), true), 429)
	runtime.KeepAlive(a)
}

// TestRateLimitStateInheritedSurvivesReparse: a route whose own config has
// no rateLimit inherits the filter-level rules with state of its own; that
// state survives a re-parse of the route's config too.
func TestRateLimitStateInheritedSurvivesReparse(t *testing.T) {
	e := newEnv()
	route := uniqueRoute(t)
	parent := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":2,"unit":"Hour"}}]}}}`, e.opts())
	child := `{"retry":{"numRetries":1},"route":"` + route + `"}`
	m1 := Merge(parent, mustConfig(t, child, e.opts()))
	wantKind(t, "1st", m1.NewStream().OnRequestHeaders(newReq("GET", "/"), true), Continue)
	m2 := Merge(parent, mustConfig(t, child, e.opts()))
	wantKind(t, "2nd, after the re-parse", m2.NewStream().OnRequestHeaders(newReq("GET", "/"), true), Continue)
	wantReply(t, "3rd", m2.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 429)
	other := Merge(parent, mustConfig(t, `{"retry":{"numRetries":1},"route":"`+route+`-other"}`, e.opts()))
	wantKind(t, "another route", other.NewStream().OnRequestHeaders(newReq("GET", "/"), true), Continue)
	runtime.KeepAlive(m1)
}

// TestRateLimitStateFreed: once no config holds a route's rule state, the
// registry forgets it (a removed route frees its tables), and the route's
// config parsed later starts fresh.
func TestRateLimitStateFreed(t *testing.T) {
	e := newEnv()
	route := uniqueRoute(t)
	c := mustConfig(t, routeConfig(route, 3), e.opts())
	remaining(t, c, "alice")
	held := func() int {
		knownRules.Lock()
		defer knownRules.Unlock()
		n := 0
		for k := range knownRules.m {
			if strings.Contains(k, route) {
				n++
			}
		}
		return n
	}
	if n := held(); n != 2 {
		t.Fatalf("registry holds %d states of the route, want its 2 rules", n)
	}
	c = nil
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; held() > 0 && i < 50 && time.Now().Before(deadline); i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := held(); n != 0 {
		t.Fatalf("registry still holds %d states of a route no config carries", n)
	}
	if got := remaining(t, mustConfig(t, routeConfig(route, 3), e.opts()), "alice"); got != "2" {
		t.Fatalf("the route parsed again after it was freed: remaining %s, want 2", got)
	}
}
