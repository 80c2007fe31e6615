package filter

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// panicReply answers a request whose handling panicked.
var panicReply = &Reply{Status: 500, GRPCStatus: -1, Body: "internal error in the btp filter\n", ContentType: "text/plain", Details: "btp_panic"}

// guard turns a panic in a Stream method into a 500 for this request. It
// must be deferred directly by the method.
func (s *Stream) guard(a *Action) {
	if v := recover(); v != nil {
		s.failed = true
		*a = Action{Kind: SendReply, Reply: panicReply}
		if s.cfg != nil {
			s.cfg.inc(Panics)
			LogPanic(s.cfg.opts.Log, "", v)
		}
	}
}

// Recover is for hosts: deferred in a host callback, it turns a panic in
// the host's own code into the 500 Action (stored in *a) and logs it with
// log (may be nil) through LogPanic. Use it as `defer filter.Recover(&a, log)`.
func Recover(a *Action, log func(string)) {
	if v := recover(); v != nil {
		*a = Action{Kind: SendReply, Reply: panicReply}
		LogPanic(log, "", v)
	}
}

// PanicReply is the 500 reply used for a recovered panic.
func PanicReply() *Reply { return panicReply }

// A panic on every request must not flood the log: a full stack per panic
// was 11 MiB for 10k panics. Per minute (process-wide, engine and hosts
// together) the first recovered panic is logged with its stack, the next
// ones with their value only, up to panicLinesPerWindow lines; the rest
// are not logged, and the first line of the next minute says how many were
// left out. btp.panics counts every panic regardless.
const (
	panicWindow         = int64(time.Minute)
	panicLinesPerWindow = 10
)

var panics panicLog

// panicClock is monotonic nanoseconds; a variable for tests.
var panicClock = monotonicNow

type panicLog struct {
	mu         sync.Mutex
	started    bool
	window     int64 // start of the current minute
	lines      int   // logged in it
	suppressed int   // not logged since the last logged line
}

// LogPanic logs a recovered panic v (where says whose code, e.g. " in the
// dynamic-module host"; may be "") to log, within the rate limit above.
// Hosts use it for the panics they recover themselves.
func LogPanic(log func(string), where string, v any) {
	if log == nil {
		return
	}
	if msg, ok := panics.line(panicClock(), where, v); ok {
		log(msg)
	}
}

func (p *panicLog) line(now int64, where string, v any) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || now-p.window >= panicWindow {
		p.started, p.window, p.lines = true, now, 0
	}
	if p.lines >= panicLinesPerWindow {
		p.suppressed++
		return "", false
	}
	p.lines++
	msg := fmt.Sprintf("btp: recovered panic%s: %v", where, v)
	if p.suppressed > 0 {
		msg += fmt.Sprintf(" (%d more panics were not logged before this one; btp.panics counts them all)", p.suppressed)
		p.suppressed = 0
	}
	switch p.lines {
	case 1:
		return msg + "\n" + string(debug.Stack()), true
	case panicLinesPerWindow:
		return msg + " (stack not logged; the next panics of this minute are not logged, only counted in btp.panics)", true
	}
	return msg + " (stack not logged: one stack per minute)", true
}
