package filter

import (
	"strings"
	"testing"
	"time"
)

// freshPanicLog starts the process-wide panic log limiter anew on a clock
// the test moves, and puts the real one back afterwards.
func freshPanicLog(t *testing.T) *int64 {
	t.Helper()
	var now int64 = int64(time.Hour)
	clock := panicClock
	panics = panicLog{}
	panicClock = func() int64 { return now }
	t.Cleanup(func() { panics, panicClock = panicLog{}, clock })
	return &now
}

func TestDebugPanicHeaderAnswers500(t *testing.T) {
	freshPanicLog(t)
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
	freshPanicLog(t)
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

// A panic flood logs one stack and a few short lines per minute, not a
// stack per panic (10k panics were 11 MiB of log); every panic is counted,
// and the next minute's first line says how many were left out.
func TestPanicFloodLogIsRateLimited(t *testing.T) {
	now := freshPanicLog(t)
	e := newEnv()
	c := mustConfig(t, `{"debug":{"panicHeader":"x-panic"}}`, e.opts())
	const flood = 10000
	for i := 0; i < flood; i++ {
		wantReply(t, "panic", c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-panic", "1"), true), 500)
		*now += int64(time.Millisecond) // 10 s in all: one minute window
	}
	if got := e.stats.get(Panics); got != flood {
		t.Fatalf("btp.panics = %d, want %d", got, flood)
	}
	if len(e.logs) != panicLinesPerWindow {
		t.Fatalf("%d log lines for %d panics, want %d", len(e.logs), flood, panicLinesPerWindow)
	}
	size := 0
	for i, l := range e.logs {
		size += len(l)
		if !strings.Contains(l, "btp: recovered panic: btp: debug.panicHeader") {
			t.Errorf("line %d lacks the panic: %q", i, l)
		}
		if hasStack := strings.Contains(l, "goroutine "); hasStack != (i == 0) {
			t.Errorf("line %d: stack logged %v, want only on the first", i, hasStack)
		}
	}
	if size > 16<<10 {
		t.Errorf("%d bytes of log for %d panics, want under 16 KiB", size, flood)
	}
	if last := e.logs[len(e.logs)-1]; !strings.Contains(last, "the next panics of this minute are not logged") {
		t.Errorf("last line %q does not say logging stops for the minute", last)
	}
	*now += int64(time.Minute)
	wantReply(t, "panic", c.NewStream().OnRequestHeaders(newReq("GET", "/", "x-panic", "1"), true), 500)
	next := e.logs[len(e.logs)-1]
	if want := "(9990 more panics were not logged before this one; btp.panics counts them all)"; !strings.Contains(next, want) || !strings.Contains(next, "goroutine ") {
		t.Errorf("next minute's line %q, want a stack and %q", next, want)
	}
}

// Hosts' own panics go through the same limit (filter.Recover, LogPanic).
func TestHostPanicsShareTheLimit(t *testing.T) {
	freshPanicLog(t)
	var logs []string
	log := func(m string) { logs = append(logs, m) }
	for i := 0; i < 100; i++ {
		func() (a Action) {
			defer Recover(&a, log)
			panic("host bug")
		}()
		LogPanic(log, " in the test host", "other bug")
	}
	if len(logs) != panicLinesPerWindow || !strings.Contains(logs[0], "host bug") || !strings.Contains(logs[1], "panic in the test host: other bug") {
		t.Fatalf("%d lines, first two %q", len(logs), logs[:2])
	}
}
