package adapter

import (
	"testing"

	"github.com/envoy-btp/envoy-btp/filter"
)

// BenchmarkRequest is one allowed request through the adapter with a rate
// limit, retry and timeout configured: request headers, response headers,
// stream end, on one reused Stream as the host keeps it. The fake handle
// stands in for Envoy (its header map is a Go map), so this measures the
// adapter and the engine, not the ABI calls.
func BenchmarkRequest(b *testing.B) {
	ff, err := NewFactory(&fakeConfigHandle{}, []byte("{}"))
	if err != nil {
		b.Fatal(err)
	}
	rc, err := ParseRouteConfig([]byte(`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-user","type":"Distinct"}]}],"limit":{"requests":4000000000,"unit":"Second"}}]}},
		"retry":{"numRetries":2,"retryOn":{"triggers":["connect-failure"]}},"timeout":{"http":{"requestTimeout":"2s"}}}`))
	if err != nil {
		b.Fatal(err)
	}
	h := newFakeHandle(rc, map[string][]string{":method": {"GET"}, ":path": {"/"}, "x-user": {"alice"}})
	s := &Stream{}
	b.ReportAllocs()
	for b.Loop() {
		s.Start(ff, h)
		s.OnRequestHeaders(true)
		s.OnResponseHeaders()
		s.OnStreamComplete(1)
	}
}

// A reused Stream allocates nothing per request (the fake's map holds the
// header values the engine sets, after the first request they are
// overwritten in place).
func TestRequestAllocatesNothing(t *testing.T) {
	ff, _ := NewFactory(&fakeConfigHandle{}, []byte("{}"))
	rc, err := ParseRouteConfig([]byte(`{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x-user","type":"Distinct"}]}],"limit":{"requests":4000000000,"unit":"Second"}}]}},"responseOverride":[{"match":{"statusCodes":[{"value":502}]},"response":{"statusCode":503}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHandle(rc, map[string][]string{":method": {"GET"}, ":path": {"/"}, "x-user": {"alice"}})
	s := &Stream{}
	run := func() {
		s.Start(ff, h)
		s.OnRequestHeaders(true)
		s.OnResponseHeaders()
		s.OnStreamComplete(1)
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}

// Later tells the host which callbacks it may skip: a route without a
// policy needs none after the request headers; a rate-limited route none
// either (the host adds the x-ratelimit-* headers, RateLimitHeaders); an
// override only the responses whose status it may match.
func TestLaterNamesTheCallbacksThatMatter(t *testing.T) {
	for _, tc := range []struct {
		name, route string
		want        filter.Later
	}{
		{"no policy", `{}`, 0},
		{"local rate limit", `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":100,"unit":"Second"}}]}}}`, 0},
		{"response override", `{"responseOverride":[{"match":{"statusCodes":[{"value":502}]},"response":{"statusCode":503}}]}`, filter.LaterOverride},
		{"retry (Envoy keeps the budget)", `{"retry":{"numRetries":2}}`, 0},
		{"fault delay", `{"faultInjection":{"delay":{"fixedDelay":"1h"}}}`, filter.LaterBody | filter.LaterComplete},
	} {
		s, h, _ := newStream(t, "{}", tc.route, get("/"))
		if got := s.Later(); got != filter.LaterBody|filter.LaterResponse|filter.LaterComplete {
			t.Errorf("%s: before the request headers Later() = %b, want every callback", tc.name, got)
		}
		s.OnRequestHeaders(true)
		if got := s.Later(); got != tc.want {
			t.Errorf("%s: Later() = %b, want %b", tc.name, got, tc.want)
		}
		s.OnStreamComplete(1)
		_ = h
	}
}

// The host adds the rate-limit headers the engine computed at request
// time; the statuses an override may match are the rules' ranges.
func TestHostSideResponseWork(t *testing.T) {
	route := `{"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":100,"unit":"Minute"}}]}},
		"responseOverride":[{"match":{"statusCodes":[{"value":502},{"type":"Range","range":{"start":500,"end":504}}]},"response":{"statusCode":503}}]}`
	s, _, _ := newStream(t, "{}", route, get("/"))
	s.OnRequestHeaders(true)
	var hdrs [3][2]string
	if n := s.RateLimitHeaders(&hdrs); n != 3 || hdrs[0] != [2]string{"x-ratelimit-limit", "100"} || hdrs[1] != [2]string{"x-ratelimit-remaining", "99"} {
		t.Errorf("RateLimitHeaders = %d %v, want limit 100 and remaining 99", n, hdrs)
	}
	ranges, any := s.OverrideStatuses()
	if any || len(ranges) != 2 || ranges[0].Lo != 502 || ranges[1].Lo != 500 || ranges[1].Hi != 504 {
		t.Errorf("OverrideStatuses = %v any=%v, want 502 and 500-504", ranges, any)
	}
}
