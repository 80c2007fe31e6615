package filter

import (
	"fmt"
	"strconv"
	"strings"
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
		// Envoy's x-ratelimit-reset is the wait for the next token: 0
		// while tokens remain.
		reset := "0"
		if i == 2 {
			reset = "1" // 1/3 s, rounded up
		}
		want := map[string]string{"x-ratelimit-limit": "3", "x-ratelimit-remaining": strconv.Itoa(2 - i), "x-ratelimit-reset": reset}
		for k, v := range want {
			if resp.headers[k] != v {
				t.Fatalf("request %d: %s = %q, want %q", i, k, resp.headers[k], v)
			}
		}
		s.OnStreamComplete(1)
	}
	s := c.NewStream()
	r := wantReply(t, "4th", s.OnRequestHeaders(newReq("GET", "/"), true), 429)
	h := replyHeaders(r)
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
		{"path exact", `{"path":{"type":"Exact","value":"/api/v1"}}`, get(), get(), true},
		{"path exact sees the query, as :path does", `{"path":{"type":"Exact","value":"/api/v1"}}`, get(), rq{"GET", "/api/v1?q", "1.1.1.1:1", nil}, false},
		{"path prefix ends at ;", `{"path":{"value":"/api/v1"}}`, get(), rq{"GET", "/api/v1;x", "1.1.1.1:1", nil}, true},
		{"path regex on the whole :path", `{"path":{"type":"RegularExpression","value":"/api/v1"}}`, get(), rq{"GET", "/api/v1?q", "1.1.1.1:1", nil}, false},
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
		{"query exact", `{"queryParams":[{"name":"tier","value":"gold"}]}`, rq{"GET", "/x?tier=gold", "1.1.1.1:1", nil}, rq{"GET", "/y?a=1&tier=gold&tier=x", "1.1.1.1:1", nil}, true},
		{"query exact first value only", `{"queryParams":[{"name":"tier","value":"gold"}]}`, rq{"GET", "/x?tier=gold", "1.1.1.1:1", nil}, rq{"GET", "/x?tier=x&tier=gold", "1.1.1.1:1", nil}, false},
		{"query percent-decoded", `{"queryParams":[{"name":"t r","value":"a&b"}]}`, rq{"GET", "/x?t%20r=a%26b", "1.1.1.1:1", nil}, rq{"GET", "/x?t%20r=a%26b", "1.1.1.1:1", nil}, true},
		{"query missing", `{"queryParams":[{"name":"tier","value":"gold"}]}`, get(), get(), false},
		{"query inverted, missing", `{"queryParams":[{"name":"tier","value":"gold","invert":true}]}`, get(), rq{"GET", "/x?tier=silver", "1.1.1.1:1", nil}, true},
		{"query regex whole value", `{"queryParams":[{"name":"id","type":"RegularExpression","value":"[0-9]+"}]}`, rq{"GET", "/x?id=12", "1.1.1.1:1", nil}, rq{"GET", "/x?id=12a", "1.1.1.1:1", nil}, false},
		{"query distinct same value", `{"queryParams":[{"name":"key","type":"Distinct"}]}`, rq{"GET", "/x?key=k1", "1.1.1.1:1", nil}, rq{"GET", "/y?key=k%31", "1.1.1.1:1", nil}, true},
		{"query distinct other value", `{"queryParams":[{"name":"key","type":"Distinct"}]}`, rq{"GET", "/x?key=k1", "1.1.1.1:1", nil}, rq{"GET", "/x?key=k2", "1.1.1.1:1", nil}, false},
		{"query distinct missing", `{"queryParams":[{"name":"key","type":"Distinct"}]}`, get(), get(), false},
		{"query distinct empty value", `{"queryParams":[{"name":"key","type":"Distinct"}]}`, rq{"GET", "/x?key", "1.1.1.1:1", nil}, rq{"GET", "/x?key=", "1.1.1.1:1", nil}, true},
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

// Envoy Gateway's local-ratelimit e2e case (test/e2e/tests/local_ratelimit.go,
// SpecificUser): a selector-less limit of 10 is the default bucket, x-user-id
// john has his own 3; john's 4th request is refused, and his requests do
// not count towards the default bucket (always_consume_default_token_bucket
// false), whatever the rule order.
func TestRateLimitDescriptorAndDefault(t *testing.T) {
	for _, order := range []string{"default first", "default last"} {
		t.Run(order, func(t *testing.T) {
			def := `{"limit":{"requests":10,"unit":"Hour"}}`
			john := `{"clientSelectors":[{"headers":[{"name":"x-user-id","value":"john"}]}],"limit":{"requests":3,"unit":"Hour"}}`
			rules := def + "," + john
			if order == "default last" {
				rules = john + "," + def
			}
			c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[`+rules+`]}}}`, newEnv().opts())
			send := func(user string) (Action, *fakeResp) {
				s := c.NewStream()
				a := s.OnRequestHeaders(newReq("GET", "/", "x-user-id", user), true)
				resp := newResp()
				if a.Kind == Continue {
					s.OnResponseHeaders(200, resp)
				}
				return a, resp
			}
			for i := 1; i <= 3; i++ {
				a, resp := send("john")
				wantKind(t, "john", a, Continue)
				if got := resp.headers["x-ratelimit-limit"] + "/" + resp.headers["x-ratelimit-remaining"]; got != "3/"+strconv.Itoa(3-i) {
					t.Fatalf("john %d: limit/remaining %s", i, got)
				}
			}
			r := wantReply(t, "john 4th", func() Action { a, _ := send("john"); return a }(), 429)
			if h := replyHeaders(r); h["x-ratelimit-limit"] != "3" || h["x-ratelimit-remaining"] != "0" || h["x-ratelimit-reset"] != "1200" {
				t.Fatalf("john's 429 headers %v, want limit 3, remaining 0, reset 1200 (next token in 20 min)", h)
			}
			for i := 1; i <= 10; i++ {
				a, resp := send("mike")
				wantKind(t, "mike", a, Continue)
				reset := "0"
				if i == 10 {
					reset = "360" // the bucket is empty: the next token in 6 minutes
				}
				if got := resp.headers["x-ratelimit-limit"] + "/" + resp.headers["x-ratelimit-remaining"] + "/" + resp.headers["x-ratelimit-reset"]; got != "10/"+strconv.Itoa(10-i)+"/"+reset {
					t.Fatalf("mike %d: limit/remaining/reset %s", i, got)
				}
			}
			wantReply(t, "mike 11th", func() Action { a, _ := send("mike"); return a }(), 429)
		})
	}
}

// When several descriptors match, Envoy takes from each, lowest fill rate
// first, and stops at the first that refuses; the headers describe the
// refusing bucket, else the first (slowest) one matched.
func TestRateLimitSeveralDescriptors(t *testing.T) {
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[
	  {"clientSelectors":[{"methods":[{"value":"GET"}]}],"limit":{"requests":4,"unit":"Second"}},
	  {"clientSelectors":[{"headers":[{"name":"x-user","type":"Distinct"}]}],"limit":{"requests":2,"unit":"Minute"}}]}}}`, newEnv().opts())
	send := func(user string) (Action, map[string]string) {
		s := c.NewStream()
		a := s.OnRequestHeaders(newReq("GET", "/", "x-user", user), true)
		if a.Kind == SendReply {
			return a, replyHeaders(a.Reply)
		}
		resp := newResp()
		s.OnResponseHeaders(200, resp)
		return a, resp.headers
	}
	for i := 1; i <= 2; i++ {
		a, h := send("ann")
		wantKind(t, "ann", a, Continue)
		if h["x-ratelimit-limit"] != "2" {
			t.Fatalf("ann %d: headers %v, want the 2/minute descriptor's (lowest fill rate)", i, h)
		}
	}
	// ann's own bucket is empty: refused there, the GET bucket keeps its
	// tokens (2 of 4 left).
	if a, h := send("ann"); a.Kind != SendReply || h["x-ratelimit-limit"] != "2" {
		t.Fatalf("ann 3rd: %v %v, want 429 from her 2/minute bucket", a.Kind, h)
	}
	for i := 1; i <= 2; i++ {
		wantKind(t, "bob", func() Action { a, _ := send("bob" + strconv.Itoa(i)); return a }(), Continue)
	}
	// The GET bucket (4/second) is now empty: a new user is refused by it.
	if a, h := send("carol"); a.Kind != SendReply || h["x-ratelimit-limit"] != "4" || h["x-ratelimit-remaining"] != "0" {
		t.Fatalf("carol: %v %v, want 429 from the 4/second GET bucket", a.Kind, h)
	}
}

// No rule without clientSelectors and no descriptor matched: Envoy
// Gateway's implied default of 4294967295 per second answers, which Envoy
// reports as limit and remaining 4294967295, reset 0
// (local_ratelimit.go, HeaderInvertMatch).
func TestRateLimitNothingMatched(t *testing.T) {
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[
	  {"clientSelectors":[{"headers":[{"name":"x-user-id","value":"one"},{"name":"x-org-id","value":"test","invert":true}]}],"limit":{"requests":3,"unit":"Hour"}}]}}}`, newEnv().opts())
	for i := 0; i < 5; i++ {
		s := c.NewStream()
		wantKind(t, "test org", s.OnRequestHeaders(newReq("GET", "/", "x-user-id", "one", "x-org-id", "test"), true), Continue)
		resp := newResp()
		s.OnResponseHeaders(200, resp)
		if h := resp.headers; h["x-ratelimit-limit"] != "4294967295" || h["x-ratelimit-remaining"] != "4294967295" || h["x-ratelimit-reset"] != "0" {
			t.Fatalf("headers %v", h)
		}
	}
}

// shadowMode (local_ratelimit.go, ShadowMode): the rule counts, the request
// over it goes through all the same; btp.ratelimit.shadow says how often.
func TestRateLimitShadowMode(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[
	  {"clientSelectors":[{"headers":[{"name":"x-user-id","value":"one"}]}],"limit":{"requests":3,"unit":"Hour"},"shadowMode":true}]}}}`, e.opts())
	for i := 1; i <= 10; i++ {
		s := c.NewStream()
		wantKind(t, "shadowed", s.OnRequestHeaders(newReq("GET", "/", "x-user-id", "one"), true), Continue)
		resp := newResp()
		s.OnResponseHeaders(200, resp)
		if want := strconv.Itoa(max(3-i, 0)); resp.headers["x-ratelimit-remaining"] != want {
			t.Fatalf("request %d: remaining %q, want %s", i, resp.headers["x-ratelimit-remaining"], want)
		}
	}
	if e.stats.get(RateLimitOK) != 3 || e.stats.get(RateLimitShadow) != 7 || e.stats.get(RateLimitOverLimit) != 0 {
		t.Fatalf("ok=%d shadow=%d over=%d, want 3, 7, 0", e.stats.get(RateLimitOK), e.stats.get(RateLimitShadow), e.stats.get(RateLimitOverLimit))
	}
}

// With requestBuffer, Envoy Gateway's local rate limit runs once the body
// is complete: a body over the limit costs no token.
func TestRateLimitAfterTheBuffer(t *testing.T) {
	c := mustConfig(t, `{"requestBuffer":{"limit":"10"},"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Hour"}}]}}}`, newEnv().opts())
	s := c.NewStream()
	wantKind(t, "headers", s.OnRequestHeaders(newReq("POST", "/"), false), StopAndBuffer)
	wantReply(t, "body too large", s.OnRequestBody(11, false), 413)
	s = c.NewStream()
	wantKind(t, "headers", s.OnRequestHeaders(newReq("POST", "/"), false), StopAndBuffer)
	wantKind(t, "body", s.OnRequestBody(5, true), Continue)
	s = c.NewStream()
	wantKind(t, "headers", s.OnRequestHeaders(newReq("POST", "/"), false), StopAndBuffer)
	wantReply(t, "limited once the body is in", s.OnRequestTrailers(), 429)
}

func replyHeaders(r *Reply) map[string]string {
	h := map[string]string{}
	for _, kv := range r.Headers {
		h[kv[0]] = kv[1]
	}
	return h
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
	if _, rem, _ := s.rateLimitState(0); rem != 2 {
		t.Fatalf("remaining %d, want 2", rem)
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
	admitted := 0
	for i := 0; i < 20_000; i++ {
		if a := c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-key", "k"+strconv.Itoa(i)), true); a.Kind == Continue {
			admitted++
		}
	}
	tbl := c.limiter.rules[0].table
	if n := tbl.Len(); n > 256 || n > tbl.MaxKeys() {
		t.Fatalf("table holds %d keys, cap 256", n)
	}
	// Each key that got a bucket once, plus the one token of the overflow
	// bucket the others share: no key was handed a second fresh bucket.
	if admitted > tbl.MaxKeys()+1 {
		t.Fatalf("%d of 20000 flood requests admitted; at most %d buckets of 1 exist", admitted, tbl.MaxKeys()+1)
	}
	wantReply(t, "victim after the flood", c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-key", "victim"), true), 429)
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

// Query parameter values longer than the stream's decode buffer still
// decode (on the heap).
func TestQueryParamLong(t *testing.T) {
	var buf [128]byte
	m := matchState{decoded: &buf}
	long := strings.Repeat("%41", 100)
	v, ok := m.queryParam("/p?x=1&k="+long+"&k=2", "k")
	if !ok || v != strings.Repeat("A", 100) {
		t.Fatalf("got %q %v", v, ok)
	}
	longer := strings.Repeat("%42", 200)
	if v, ok := m.queryParam("/p?k="+longer, "k"); !ok || v != strings.Repeat("B", 200) {
		t.Fatalf("got %q %v", v, ok)
	}
	// Envoy leaves a '%' in the last two bytes alone.
	if v, _ := m.queryParam("/p?k=a%4", "k"); v != "a%4" {
		t.Fatalf("got %q", v)
	}
	if _, ok := m.queryParam("/p", "k"); ok {
		t.Fatal("no query, found")
	}
}

// xRateLimitHeaders Off on the rule without clientSelectors silences the
// route's headers, the 429's included, as Envoy Gateway renders
// enable_x_ratelimit_headers OFF for the route.
func TestRateLimitHeadersOff(t *testing.T) {
	cfg, err := ParseJSON([]byte(`{"rateLimit":{"type":"Local","local":{"rules":[
		{"limit":{"requests":100,"unit":"Hour"},"xRateLimitHeaders":"Off"},
		{"clientSelectors":[{"headers":[{"name":"x-user","value":"eve"}]}],"limit":{"requests":1,"unit":"Hour"},"xRateLimitHeaders":"DraftVersion03"}]}}}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []Kind{Continue, SendReply} {
		s := cfg.NewStream()
		a := s.OnRequestHeaders(newReq("GET", "/", "x-user", "eve"), true)
		if a.Kind != want {
			t.Fatalf("request %d: %v, want %v", i+1, a.Kind, want)
		}
		if a.Kind == SendReply && len(a.Reply.Headers) != 0 {
			t.Errorf("429 headers %v, want none", a.Reply.Headers)
		}
		var hdrs [3][2]string
		if n := s.RateLimitHeaders(&hdrs); n != 0 {
			t.Errorf("request %d: RateLimitHeaders = %d, want 0", i+1, n)
		}
	}
	if _, err := ParseJSON([]byte(`{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Hour"},"xRateLimitHeaders":"off"}]}}}`), Options{}); err == nil ||
		!strings.Contains(err.Error(), "rateLimit.local.rules[0].xRateLimitHeaders") {
		t.Errorf("a bad value: %v, want an error naming rateLimit.local.rules[0].xRateLimitHeaders", err)
	}
}

// TestRateLimitDistinctFloodKeepsLimitedClient is issue 13's key flood
// through the engine, on a table of 4,096 keys (filter/bucket's
// TestTableFloodKeepsExhaustedClient floods the default 65,536 with
// 150,000): a client that used its 2 requests per hour, then 20,000 fresh
// x-user values sending 2 requests each. The client is
// refused for its whole window (fresh keys that find the table full share
// one overflow bucket, counted in btp.ratelimit.table_full, instead of
// evicting it) and gets its 2 requests back after the window.
func TestRateLimitDistinctFloodKeepsLimitedClient(t *testing.T) {
	e := newEnv()
	e.clock.advance(int64(time.Second))
	o := e.opts()
	o.DistinctKeys = 4096
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-user","type":"Distinct"}]}],"limit":{"requests":2,"unit":"Hour"}}]}}}`, o)
	send := func(user string) Kind {
		s := c.NewStream()
		k := s.OnRequestHeaders(newReq("GET", "/", "x-user", user), true).Kind
		s.OnStreamComplete(1)
		return k
	}
	for i := 0; i < 2; i++ {
		wantKind(t, "victim's own request", c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-user", "victim"), true), Continue)
	}
	const flood = 20_000
	admitted := 0
	for i := 0; i < flood; i++ {
		e.clock.advance(int64(50 * time.Millisecond)) // 17 minutes of flood
		u := "flood-" + strconv.Itoa(i)
		send(u)
		send(u)
		if i%200 == 0 && send("victim") == Continue {
			admitted++
		}
	}
	if admitted > 0 {
		t.Fatalf("victim admitted %d times within its window during the flood", admitted)
	}
	if full := e.stats.get(RateLimitTableFull); full < 2*(flood-4096) {
		t.Fatalf("btp.ratelimit.table_full = %d, want every request of a key that found no room (>= %d)", full, 2*(flood-4096))
	}
	e.clock.advance(int64(time.Hour - flood*50*time.Millisecond)) // the victim's hour has passed
	for i := 0; i < 2; i++ {
		wantKind(t, "victim after its window", c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-user", "victim"), true), Continue)
	}
	wantReply(t, "victim's third", c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-user", "victim"), true), 429)
}
