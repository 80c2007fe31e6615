package filter

import (
	"strings"
	"testing"
)

func TestDebugPanicHeaderAnswers500(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"debug":{"panicHeader":"X-BTP-Panic"},"retry":{}}`, e.opts())
	s := c.NewStream()
	r := wantReply(t, "panic", s.OnRequestHeaders(newReq("GET", "/", "x-btp-panic", "1"), true), 500)
	if r.Details != "btp_panic" {
		t.Fatalf("details %q", r.Details)
	}
	if e.stats.get(Panics) != 1 || len(e.logs) != 1 || !strings.Contains(e.logs[0], "debug.panicHeader") || !strings.Contains(e.logs[0], "goroutine") {
		t.Fatalf("panics=%d logs=%q", e.stats.get(Panics), e.logs)
	}
	// The failed stream is inert afterwards.
	wantKind(t, "body", s.OnRequestBody(10, true), Continue)
	wantKind(t, "response", s.OnResponseHeaders(500, newResp()), Continue)
	s.OnStreamComplete(1)
	// Other requests are served.
	wantKind(t, "next", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), Continue)
}

func TestPanicInHostInterfaceIsRecovered(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"rateLimit":{"type":"Local","local":{"rules":[{"clientSelectors":[{"headers":[{"name":"x","value":"y"}]}],"limit":{"requests":1,"unit":"Second"}}]}}}`, e.opts())
	s := c.NewStream()
	wantReply(t, "nil request", s.OnRequestHeaders(nil, true), 500)
	if e.stats.get(Panics) != 1 {
		t.Fatalf("panics %d", e.stats.get(Panics))
	}
}

func TestRecoverForHosts(t *testing.T) {
	var logged string
	f := func() (a Action) {
		defer Recover(&a, func(m string) { logged = m })
		panic("host bug")
	}
	a := f()
	if a.Kind != SendReply || a.Reply.Status != 500 || !strings.Contains(logged, "host bug") {
		t.Fatalf("action %+v log %q", a, logged)
	}
}

func TestNoDebugHookByDefault(t *testing.T) {
	c := mustConfig(t, `{}`, newEnv().opts())
	wantKind(t, "header ignored", c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-btp-panic", "1"), true), Continue)
}
