package filter

import (
	"fmt"
	"runtime/debug"
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
			s.cfg.opts.Log(fmt.Sprintf("btp: recovered panic: %v\n%s", v, debug.Stack()))
		}
	}
}

// Recover is for hosts: deferred in a host callback, it turns a panic in
// the host's own code into the 500 Action (stored in *a) and logs it with
// log (may be nil). Use it as `defer filter.Recover(&a, log)`.
func Recover(a *Action, log func(string)) {
	if v := recover(); v != nil {
		*a = Action{Kind: SendReply, Reply: panicReply}
		if log != nil {
			log(fmt.Sprintf("btp: recovered panic: %v\n%s", v, debug.Stack()))
		}
	}
}

// PanicReply is the 500 reply used for a recovered panic.
func PanicReply() *Reply { return panicReply }
