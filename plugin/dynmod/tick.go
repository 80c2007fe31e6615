package main

import "runtime"

// tick yields once when C says this thread's time is due (hooks.c
// btp_tick_due, every 5 ms of a busy worker). A cgo callback runs its
// goroutine on the calling thread without the scheduler, so the P it holds
// never advances its scheduler tick; between requests the worker keeps the
// P in C, and the runtime's sysmon, seeing the same tick for 10 ms, takes
// it away as from a goroutine running too long, at its first look, however
// many Ps are idle (GOMAXPROCS does not help): about one hand-off and one
// thread woken for nothing per request. One yield (the goroutine is locked
// to the thread: another M runs the scheduler once and hands the P back)
// moves the tick, and sysmon then leaves a P in C alone while other Ps are
// idle (BENCHMARKS.md, "Where the time goes").
func tick(yield bool) {
	if yield {
		runtime.Gosched()
	}
}
