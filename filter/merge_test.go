package filter

import (
	"sync"
	"testing"
)

func TestMerge(t *testing.T) {
	e := newEnv()
	parent := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Hour"}}]}},"timeout":{"http":{"requestTimeout":"5s"}}}`, e.opts())
	routeA := mustConfig(t, `{"timeout":{"http":{"requestTimeout":"1s"}}}`, Options{})
	routeB := mustConfig(t, `{"faultInjection":{"abort":{"httpStatus":418}}}`, Options{})
	a, b := Merge(parent, routeA), Merge(parent, routeB)
	if Merge(parent, routeA) != a {
		t.Fatal("Merge is not cached per (parent, child)")
	}
	if Merge(nil, routeA) != routeA || Merge(parent, nil) != parent {
		t.Fatal("Merge with nil")
	}

	// Route timeout overrides, the parent's rate limit is inherited...
	req := newReq("GET", "/")
	wantKind(t, "A first", a.NewStream().OnRequestHeaders(req, true), Continue)
	if req.set["x-envoy-upstream-rq-timeout-ms"] != "1000" {
		t.Fatalf("route timeout: %v", req.set)
	}
	wantReply(t, "A second", a.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 429)
	// ...with per-route buckets (the rule is not shared).
	wantReply(t, "B aborts", b.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 418)
	req = newReq("GET", "/")
	wantKind(t, "parent alone", parent.NewStream().OnRequestHeaders(req, true), Continue)
	if req.set["x-envoy-upstream-rq-timeout-ms"] != "5000" {
		t.Fatalf("parent timeout: %v", req.set)
	}
	// Stats come from the filter-level config.
	if e.stats.get(RateLimitOverLimit) != 1 || e.stats.get(FaultAborts) != 1 {
		t.Fatalf("over=%d aborts=%d", e.stats.get(RateLimitOverLimit), e.stats.get(FaultAborts))
	}
	if b.Compiled().Fault == nil || b.Compiled().RateLimit == nil || b.Compiled().Source.FaultInjection == nil {
		t.Fatal("merged compiled config lost a feature")
	}
}

func TestMergeConcurrentFirstCallsAgree(t *testing.T) {
	for round := 0; round < 50; round++ {
		parent := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Hour"}}]}}}`, Options{})
		child := mustConfig(t, `{"timeout":{"http":{"requestTimeout":"1s"}}}`, Options{})
		got := make([]*Config, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i] = Merge(parent, child)
			}()
		}
		wg.Wait()
		for i := range got {
			if got[i] != got[0] {
				t.Fatalf("round %d: concurrent Merge calls returned different configs", round)
			}
		}
	}
}

// A route config shared by two listeners (two filter-level configs) keeps
// one merged config, and so one set of buckets, per listener.
func TestMergeTwoParentsKeepState(t *testing.T) {
	rl := `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Hour"}}]}}}`
	p1, p2 := mustConfig(t, rl, Options{}), mustConfig(t, rl, Options{})
	child := mustConfig(t, `{}`, Options{})
	m1 := Merge(p1, child)
	wantKind(t, "first on listener 1", m1.NewStream().OnRequestHeaders(newReq("GET", "/"), true), Continue)
	for i := 0; i < 3; i++ {
		if Merge(p2, child) == m1 || Merge(p1, child) != m1 {
			t.Fatal("merged configs mixed up between parents")
		}
	}
	wantReply(t, "second on listener 1", Merge(p1, child).NewStream().OnRequestHeaders(newReq("GET", "/"), true), 429)
	wantKind(t, "first on listener 2", Merge(p2, child).NewStream().OnRequestHeaders(newReq("GET", "/"), true), Continue)
}
