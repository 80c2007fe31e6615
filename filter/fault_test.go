package filter

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// threshold of p percent, as config computes it.
func drawUnder(p float64) uint32 { return uint32(p/100*float64(1<<32)) - 1 }
func drawOver(p float64) uint32  { return uint32(p/100*float64(1<<32)) + 1 }

func TestFaultExactDraws(t *testing.T) {
	const cfg = `{"faultInjection":{"delay":{"fixedDelay":"1s500ms","percentage":50},"abort":{"httpStatus":503,"percentage":25}}}`
	cases := []struct {
		name           string
		draws          []uint32 // delay draw, then abort draw
		grpc           bool
		wantDelay      bool
		wantAbort      bool
		wantGRPCStatus int
		wantHTTPStatus int
	}{
		{name: "delay and abort", draws: []uint32{drawUnder(50), drawUnder(25)}, wantDelay: true, wantAbort: true, wantHTTPStatus: 503, wantGRPCStatus: -1},
		{name: "delay only", draws: []uint32{drawUnder(50), drawOver(25)}, wantDelay: true},
		{name: "abort only", draws: []uint32{drawOver(50), drawUnder(25)}, wantAbort: true, wantHTTPStatus: 503, wantGRPCStatus: -1},
		{name: "neither", draws: []uint32{drawOver(50), drawOver(25)}},
		{name: "gRPC abort is gRPC-shaped", draws: []uint32{drawOver(50), 0}, grpc: true, wantAbort: true, wantHTTPStatus: 503, wantGRPCStatus: 14},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			o := e.opts()
			r := &seqRand{draws: tc.draws}
			o.Rand = r.next
			c := mustConfig(t, cfg, o)
			s := c.NewStream()
			req := newReq("GET", "/")
			if tc.grpc {
				req.headers["content-type"] = "application/grpc+proto"
			}
			a := s.OnRequestHeaders(req, true)
			if tc.wantDelay {
				wantKind(t, "headers", a, Delay)
				if a.Delay != 1500*time.Millisecond {
					t.Fatalf("delay %v, want 1.5s", a.Delay)
				}
				a = s.OnDelayDone(req)
			}
			if tc.wantAbort {
				rep := wantReply(t, "abort", a, tc.wantHTTPStatus)
				if rep.GRPCStatus != tc.wantGRPCStatus {
					t.Fatalf("grpc status %d, want %d", rep.GRPCStatus, tc.wantGRPCStatus)
				}
				if tc.grpc {
					status, hdrs, body := rep.Wire()
					if status != 200 || body != "" || hdrs[0] != [2]string{"content-type", "application/grpc"} || hdrs[1] != [2]string{"grpc-status", "14"} {
						t.Fatalf("gRPC wire form %d %v %q", status, hdrs, body)
					}
				}
			} else {
				wantKind(t, "after fault", a, Continue)
			}
			if d := e.stats.get(FaultDelays); d != b2i(tc.wantDelay) {
				t.Fatalf("btp.fault.delays = %d", d)
			}
			if ab := e.stats.get(FaultAborts); ab != b2i(tc.wantAbort) {
				t.Fatalf("btp.fault.aborts = %d", ab)
			}
		})
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestFaultGRPCStatusAbort(t *testing.T) {
	c := mustConfig(t, `{"faultInjection":{"abort":{"grpcStatus":4}}}`, newEnv().opts())
	// gRPC request: gRPC-shaped DEADLINE_EXCEEDED.
	rep := wantReply(t, "grpc", c.NewStream().OnRequestHeaders(newReq("POST", "/svc/M", "content-type", "application/grpc"), true), 504)
	if rep.GRPCStatus != 4 {
		t.Fatalf("grpc status %d, want 4", rep.GRPCStatus)
	}
	// Plain request: the HTTP equivalent (504), not gRPC-shaped.
	rep = wantReply(t, "plain", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), 504)
	if rep.GRPCStatus != -1 {
		t.Fatalf("plain request got grpc status %d", rep.GRPCStatus)
	}
}

func TestFaultDelayKeepsBuffering(t *testing.T) {
	c := mustConfig(t, `{"faultInjection":{"delay":{"fixedDelay":"10ms"}},"requestBuffer":{"limit":"10"}}`, newEnv().opts())
	s := c.NewStream()
	req := newReq("POST", "/")
	wantKind(t, "headers", s.OnRequestHeaders(req, false), Delay)
	wantKind(t, "delay done", s.OnDelayDone(req), StopAndBuffer)
	wantReply(t, "body", s.OnRequestBody(11, true), 413)
	// A second OnDelayDone is a no-op.
	wantKind(t, "again", s.OnDelayDone(req), Continue)
}

// TestFaultPercentages checks the share of hits over many draws, with a
// seeded source (exact) and with the default source (random; the bound is
// six standard deviations, so a false failure has odds near 1e-9).
func TestFaultPercentages(t *testing.T) {
	const n = 200_000
	for _, p := range []float64{0.5, 10, 33.3, 50, 99} {
		for _, seeded := range []bool{true, false} {
			cfg := `{"faultInjection":{"abort":{"httpStatus":500,"percentage":` + ftoa(p) + `}}}`
			o := newEnv().opts()
			if seeded {
				o.Rand = rand.New(rand.NewPCG(7, uint64(p*10))).Uint32
			}
			c := mustConfig(t, cfg, o)
			hits := 0
			for i := 0; i < n; i++ {
				if c.NewStream().OnRequestHeaders(newReq("GET", "/"), true).Kind == SendReply {
					hits++
				}
			}
			mean := n * p / 100
			sd := math.Sqrt(n * p / 100 * (1 - p/100))
			if math.Abs(float64(hits)-mean) > 6*sd {
				t.Errorf("p=%v seeded=%v: %d hits of %d, want %.0f ± %.0f", p, seeded, hits, n, mean, 6*sd)
			}
		}
	}
	// 0% never fires, 100% always does, without drawing.
	for _, tc := range []struct {
		p    string
		want Kind
	}{{"0", Continue}, {"100", SendReply}} {
		o := newEnv().opts()
		o.Rand = func() uint32 { t.Fatal("drew a random number for a 0% or 100% fault"); return 0 }
		c := mustConfig(t, `{"faultInjection":{"abort":{"httpStatus":500,"percentage":`+tc.p+`}}}`, o)
		wantKind(t, tc.p+"%", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), tc.want)
	}
}

func ftoa(f float64) string { return strconvFormat(f) }

func TestDelayDoneOnlyOnce(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"faultInjection":{"delay":{"fixedDelay":"5ms"}},"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":1,"unit":"Hour"}}]}}}`, e.opts())
	s := c.NewStream()
	req := newReq("GET", "/")
	wantKind(t, "headers", s.OnRequestHeaders(req, true), Delay)
	wantKind(t, "delay done", s.OnDelayDone(req), Continue)
	// A stray second resume must not run the rules again (it would take a
	// second token and answer 429).
	wantKind(t, "second resume", s.OnDelayDone(req), Continue)
	if e.stats.get(RateLimitOK) != 1 || e.stats.get(RateLimitOverLimit) != 0 {
		t.Fatalf("rules ran twice: ok=%d over=%d", e.stats.get(RateLimitOK), e.stats.get(RateLimitOverLimit))
	}
	// Without a Delay outstanding, OnDelayDone does nothing either.
	s2 := c.NewStream()
	wantKind(t, "no delay", s2.OnDelayDone(req), Continue)
	if e.stats.get(RateLimitOverLimit) != 0 {
		t.Fatal("OnDelayDone without a delay ran the rules")
	}
}

func TestZeroDelayIsNoDelay(t *testing.T) {
	e := newEnv()
	c := mustConfig(t, `{"faultInjection":{"delay":{"fixedDelay":"0s"}}}`, e.opts())
	wantKind(t, "headers", c.NewStream().OnRequestHeaders(newReq("GET", "/"), true), Continue)
	if e.stats.get(FaultDelays) != 0 {
		t.Fatal("counted a zero delay")
	}
}
