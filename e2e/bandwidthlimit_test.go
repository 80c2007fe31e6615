package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// bandwidthLimit through a real Envoy: the route with a 1 KiB/s request
// limit passes its 3 KiB body whole through Envoy's bandwidth_limit filter
// (its counters show the stream held back for want of tokens and every
// byte let through); the
// route without a policy never enters the filter.
func TestBandwidthLimit(t *testing.T) {
	app := harness.StartBackend(t, "app")
	v := harness.NewVars(t, []*harness.Backend{app})
	boot := harness.Render(t, harness.Execute(t, "testdata/bandwidthlimit.yaml.tmpl", v), v.AdminPort)
	assertLoopbackOnly(t, boot)
	e := harness.StartEnvoy(t, boot, v.AdminPort)
	p := &harness.Proxy{Port: v.Port}
	const prefix = "http_bandwidth_limiter.http_bandwidth_limit."

	body := strings.Repeat("b", 3<<10)
	if code, _, _ := post(t, p.URL("/open"), body, false); code != http.StatusOK {
		t.Fatalf("/open: status %d, want 200", code)
	}
	if n := e.Stats(t)[prefix+"request_enabled"]; n != 0 {
		t.Errorf("after /open: %srequest_enabled = %d, want 0 (no policy, filter disabled)", prefix, n)
	}

	app.Reset()
	if code, _, _ := post(t, p.URL("/limited"), body, false); code != http.StatusOK {
		t.Fatalf("/limited: status %d, want 200", code)
	}
	if r := app.Requests(); len(r) != 1 || len(r[0].Body) != len(body) {
		t.Fatalf("backend did not get the 3 KiB body whole")
	}
	s := e.Stats(t)
	// request_enforced counts the times the filter held data back for want
	// of tokens: at 1 KiB/s a 3 KiB body cannot pass without it.
	if n := s[prefix+"request_enforced"]; n < 1 {
		t.Errorf("%srequest_enforced = %d, want at least 1 (the body was not limited)", prefix, n)
	}
	for _, c := range []struct {
		name string
		want int64
	}{
		{"request_enabled", 1},
		{"request_allowed_total_size", int64(len(body))},
		{"response_enabled", 0},
	} {
		if got := s[prefix+c.name]; got != c.want {
			t.Errorf("%s%s = %d, want %d", prefix, c.name, got, c.want)
		}
	}
}
