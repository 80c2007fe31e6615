package filter

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestRateLimitBasicAndHeaders(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":3,"unit":"Second"}}]}}}`, e.opts())
	for i := 0; i < 3; i++ {
		s := c.NewStream()
		wantKind(t, "allowed", s.OnRequestHeaders(newReq("GET", "/"), true), Continue)
		resp := newResp()
		wantKind(t, "response", s.OnResponseHeaders(200, resp), Continue)
		want := map[string]string{"x-ratelimit-limit": "3", "x-ratelimit-remaining": strconv.Itoa(2 - i), "x-ratelimit-reset": "1"}
		for k, v := range want {
			if resp.headers[k] != v {
				t.Fatalf("request %d: %s = %q, want %q", i, k, resp.headers[k], v)
			}
		}
		s.OnStreamComplete(1)
	}
	s := c.NewStream()
	r := wantReply(t, "4th", s.OnRequestHeaders(newReq("GET", "/"), true), 429)
	h := map[string]string{}
	for _, kv := range r.Headers {
		h[kv[0]] = kv[1]
	}
	if h["x-ratelimit-limit"] != "3" || h["x-ratelimit-remaining"] != "0" || h["x-ratelimit-reset"] != "1" {
		t.Fatalf("429 headers %v", r.Headers)
	}
	if e.stats.get(RateLimitOK) != 3 || e.stats.get(RateLimitOverLimit) != 1 {
		t.Fatalf("ok=%d over=%d", e.stats.get(RateLimitOK), e.stats.get(RateLimitOverLimit))
	}
	// One token refills after a third of a second.
	e.clock.advance(int64(time.Second / 3))
	wantKind(t, "refilled", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), Continue)
	wantReply(t, "empty again", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 429)
}

func TestRateLimitGRPCReply(t *testing.T) {
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":0,"unit":"Second"}}]}}}`, newEnv().opts())
	r := wantReply(t, "grpc", c.NewStream().OnRequestHeaders(newReq("POST", "/s/M", "content-type", "application/grpc"), true), 429)
	if r.GRPCStatus != 14 {
		t.Fatalf("grpc status %d, want 14 (UNAVAILABLE)", r.GRPCStatus)
	}
}

// TestRateLimitSelectors checks which rule, if any, a request falls under:
// each rule allows one request per hour, so a second identical request is
// refused exactly when a rule matched it.
func TestRateLimitSelectors(t *testing.T) {
	rule := func(sel string) string {
		return `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[` + sel + `],"limit":{"requests":1,"unit":"Hour"}}]}}}`
	}
	type rq struct {
		method, path, addr string
		headers            []string
	}
	get := func(h ...string) rq { return rq{"GET", "/api/v1", "192.168.1.7:4000", h} }
	cases := []struct {
		name    string
		sel     string
		a, b    rq
		limited bool // b is refused after a
	}{
		{"header exact match", `{"headers":[{"name":"X-User","value":"alice"}]}`, get("x-user", "alice"), get("x-user", "alice"), true},
		{"header exact no match", `{"headers":[{"name":"x-user","value":"alice"}]}`, get("x-user", "bob"), get("x-user", "bob"), false},
		{"header exact missing", `{"headers":[{"name":"x-user","value":"alice"}]}`, get(), get(), false},
		{"header exact inverted", `{"headers":[{"name":"x-user","value":"alice","invert":true}]}`, get("x-user", "bob"), get("x-user", "carol"), true},
		{"header inverted, header missing", `{"headers":[{"name":"x-user","value":"alice","invert":true}]}`, get(), get(), true},
		{"header inverted excludes value", `{"headers":[{"name":"x-user","value":"alice","invert":true}]}`, get("x-user", "alice"), get("x-user", "alice"), false},
		{"header regex whole value", `{"headers":[{"name":"x-user","type":"RegularExpression","value":"a.*e"}]}`, get("x-user", "alice"), get("x-user", "ace"), true},
		{"header regex anchored", `{"headers":[{"name":"x-user","type":"RegularExpression","value":"a.*e"}]}`, get("x-user", "alice!"), get("x-user", "alice!"), false},
		{"header regex inverted", `{"headers":[{"name":"x-user","type":"RegularExpression","value":"a.*","invert":true}]}`, get("x-user", "bob"), get("x-user", "bo"), true},
		{"distinct header same value", `{"headers":[{"name":"x-user","type":"Distinct"}]}`, get("x-user", "a"), get("x-user", "a"), true},
		{"distinct header other value", `{"headers":[{"name":"x-user","type":"Distinct"}]}`, get("x-user", "a"), get("x-user", "b"), false},
		{"distinct header missing", `{"headers":[{"name":"x-user","type":"Distinct"}]}`, get(), get(), false},
		{"two headers all must match", `{"headers":[{"name":"x-a","value":"1"},{"name":"x-b","value":"2"}]}`, get("x-a", "1"), get("x-a", "1"), false},
		{"two headers both match", `{"headers":[{"name":"x-a","value":"1"},{"name":"x-b","value":"2"}]}`, get("x-a", "1", "x-b", "2"), get("x-a", "1", "x-b", "2"), true},
		{"methods any", `{"methods":[{"value":"POST"},{"value":"GET"}]}`, get(), rq{"POST", "/", "1.1.1.1:1", nil}, true},
		{"methods none", `{"methods":[{"value":"POST"}]}`, get(), get(), false},
		{"method inverted", `{"methods":[{"value":"POST","invert":true}]}`, get(), rq{"PUT", "/", "1.1.1.1:1", nil}, true},
		{"path prefix segment", `{"path":{"value":"/api"}}`, get(), rq{"GET", "/api", "1.1.1.1:1", nil}, true},
		{"path prefix not partial segment", `{"path":{"value":"/ap"}}`, get(), get(), false},
		{"path prefix ignores query", `{"path":{"type":"PathPrefix","value":"/api/"}}`, rq{"GET", "/api/x?y=1", "1.1.1.1:1", nil}, rq{"GET", "/api?z", "1.1.1.1:1", nil}, true},
		{"path exact", `{"path":{"type":"Exact","value":"/api/v1"}}`, get(), rq{"GET", "/api/v1?q", "1.1.1.1:1", nil}, true},
		{"path exact no match", `{"path":{"type":"Exact","value":"/api"}}`, get(), get(), false},
		{"path regex", `{"path":{"type":"RegularExpression","value":"/api/v[0-9]+"}}`, get(), rq{"GET", "/api/v22", "1.1.1.1:1", nil}, true},
		{"path inverted", `{"path":{"value":"/admin","invert":true}}`, get(), get(), true},
		{"source CIDR in", `{"sourceCIDR":{"value":"192.168.0.0/16"}}`, get(), rq{"GET", "/", "192.168.200.1:9", nil}, true},
		{"source CIDR out", `{"sourceCIDR":{"value":"10.0.0.0/8"}}`, get(), get(), false},
		{"source CIDR inverted", `{"sourceCIDR":{"value":"10.0.0.0/8","invert":true}}`, get(), get(), true},
		{"source distinct same ip other port", `{"sourceCIDR":{"type":"Distinct","value":"192.168.0.0/16"}}`, get(), rq{"GET", "/", "192.168.1.7:9999", nil}, true},
		{"source distinct other ip", `{"sourceCIDR":{"type":"Distinct","value":"192.168.0.0/16"}}`, get(), rq{"GET", "/", "192.168.1.8:4000", nil}, false},
		{"source ipv6", `{"sourceCIDR":{"type":"Distinct","value":"2001:db8::/32"}}`, rq{"GET", "/", "[2001:db8::1]:80", nil}, rq{"GET", "/", "[2001:db8::1]:81", nil}, true},
		{"source ipv4-mapped", `{"sourceCIDR":{"value":"10.0.0.0/8"}}`, rq{"GET", "/", "[::ffff:10.1.2.3]:80", nil}, rq{"GET", "/", "10.9.9.9:1", nil}, true},
		{"source distinct ipv4-mapped is the same client", `{"sourceCIDR":{"type":"Distinct","value":"10.0.0.0/8"}}`, rq{"GET", "/", "[::ffff:10.1.2.3]:80", nil}, rq{"GET", "/", "10.1.2.3:81", nil}, true},
		{"source distinct without port", `{"sourceCIDR":{"type":"Distinct","value":"10.0.0.0/8"}}`, rq{"GET", "/", "10.1.2.3", nil}, rq{"GET", "/", "10.1.2.3:81", nil}, true},
		{"source unparsable never matches", `{"sourceCIDR":{"type":"Distinct","value":"0.0.0.0/0"}}`, rq{"GET", "/", "pipe:/x", nil}, rq{"GET", "/", "pipe:/x", nil}, false},
		{"two selectors both must hold", `{"methods":[{"value":"GET"}]},{"path":{"value":"/other"}}`, get(), get(), false},
		{"distinct header and source", `{"headers":[{"name":"x-user","type":"Distinct"}],"sourceCIDR":{"type":"Distinct","value":"0.0.0.0/0"}}`, get("x-user", "a"), rq{"GET", "/", "192.168.1.8:1", []string{"x-user", "a"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustConfig(t, rule(tc.sel), newEnv().opts())
			send := func(r rq) Action {
				req := newReq(r.method, r.path, r.headers...)
				req.addr = r.addr
				return c.NewStream().OnRequestHeaders(req, true)
			}
			wantKind(t, "first", send(tc.a), Continue)
			got := send(tc.b).Kind == SendReply
			if got != tc.limited {
				t.Fatalf("second request limited = %v, want %v", got, tc.limited)
			}
		})
	}
}

func TestRateLimitFirstMatchingRuleDecides(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[
	  {"clientSelectors":[{"headers":[{"name":"x-tier","value":"gold"}]}],"limit":{"requests":5,"unit":"Minute"}},
	  {"limit":{"requests":1,"unit":"Minute"}}]}}}`, e.opts())
	for i := 0; i < 5; i++ {
		wantKind(t, "gold", c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-tier", "gold"), true), Continue)
	}
	wantReply(t, "gold 6th", c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-tier", "gold"), true), 429)
	wantKind(t, "other", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), Continue)
	wantReply(t, "other 2nd", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 429)
}

func TestRateLimitFetchesOnlyWhatRulesNeed(t *testing.T) {
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[
	  {"clientSelectors":[{"headers":[{"name":"x-a","value":"1"}]}],"limit":{"requests":5,"unit":"Minute"}},
	  {"clientSelectors":[{"headers":[{"name":"x-a","value":"2"}],"methods":[{"value":"GET"}]}],"limit":{"requests":5,"unit":"Minute"}},
	  {"clientSelectors":[{"methods":[{"value":"GET"}]}],"limit":{"requests":5,"unit":"Minute"}}]}}}`, newEnv().opts())
	req := newReq("GET", "/", "x-a", "3")
	wantKind(t, "req", c.NewStream().OnRequestHeaders(req, true), Continue)
	if req.fetched[":path"] != 0 || req.fetched["source"] != 0 || req.fetched[":method"] != 1 {
		t.Fatalf("fetched %v: want method once, no path, no source", req.fetched)
	}
}

func TestRateLimitCost(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":10,"unit":"Hour"},
	  "cost":{"request":{"from":"Number","number":3},"response":{"from":"Number","number":2}}}]}}}`, e.opts())
	s := c.NewStream()
	wantKind(t, "1st", s.OnRequestHeaders(newReq("GET", "/"), true), Continue) // 7 left
	s.OnStreamComplete(1)                                                      // response cost: 5 left
	s = c.NewStream()
	wantKind(t, "2nd", s.OnRequestHeaders(newReq("GET", "/"), true), Continue) // 2 left
	if s.rlRemaining != 2 {
		t.Fatalf("remaining %d, want 2", s.rlRemaining)
	}
	wantReply(t, "3rd", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 429)
}

func TestRateLimitSharedAcrossRoutes(t *testing.T) {
	rl := func(shared bool, n int) string {
		return fmt.Sprintf(`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-shared-test","value":"%d"}]}],"limit":{"requests":2,"unit":"Hour"},"shared":%v}]}}}`, n, shared)
	}
	for _, shared := range []bool{true, false} {
		// Two routes (two configs) carrying the same rule.
		// Shared state is process-wide: a fresh rule per run keeps -count=N honest.
		n := int(time.Now().UnixNano())
		a := mustConfig(t, rl(shared, n), newEnv().opts())
		b := mustConfig(t, rl(shared, n), newEnv().opts())
		hdr := []string{"x-shared-test", strconv.Itoa(n)}
		wantKind(t, "a1", a.NewStream().OnRequestHeaders(newReq("GET", "/", hdr...), true), Continue)
		wantKind(t, "b1", b.NewStream().OnRequestHeaders(newReq("GET", "/", hdr...), true), Continue)
		third := b.NewStream().OnRequestHeaders(newReq("GET", "/", hdr...), true)
		if (third.Kind == SendReply) != shared {
			t.Fatalf("shared=%v: third request across routes %v", shared, third.Kind)
		}
	}
}

func TestRateLimitDistinctFloodIsBounded(t *testing.T) {
	e := newEnv()
	o := e.opts()
	o.DistinctKeys = 256
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-key","type":"Distinct"}]}],"limit":{"requests":1,"unit":"Hour"}}]}}}`, o)
	// A client that is being limited.
	wantKind(t, "victim", c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-key", "victim"), true), Continue)
	for i := 0; i < 100_000; i++ {
		if a := c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-key", "k"+strconv.Itoa(i)), true); a.Kind != Continue {
			t.Fatalf("new key %d refused", i)
		}
	}
	tbl := c.limiter.rules[0].table
	if n := tbl.Len(); n > 256 || n > tbl.MaxKeys() {
		t.Fatalf("table holds %d keys, cap 256", n)
	}
}

func TestRateLimitConcurrentSharedBucket(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1000,"unit":"Hour"}}]}}}`, e.opts())
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := 0; i < 500; i++ {
				s := c.NewStream()
				if s.OnRequestHeaders(newReq("GET", "/"), true).Kind == Continue {
					n++
				}
				s.OnStreamComplete(1)
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if allowed != 1000 {
		t.Fatalf("8 goroutines x 500 requests on a 1000/hour bucket (frozen clock) admitted %d, want exactly 1000", allowed)
	}
	if e.stats.get(RateLimitOK) != 1000 || e.stats.get(RateLimitOverLimit) != 3000 {
		t.Fatalf("ok=%d over=%d", e.stats.get(RateLimitOK), e.stats.get(RateLimitOverLimit))
	}
}
