package harness

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process-level views of a running Envoy, for the reliability probes: its
// pid and memory, signals, and how it exited.

// Pid is Envoy's process id (the PyPI wrapper execs Envoy, so it is
// Envoy's own).
func (e *Envoy) Pid() int { return e.cmd.Process.Pid }

// RSS is Envoy's resident set size in bytes (VmRSS of /proc/PID/status).
func (e *Envoy) RSS() (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(e.Pid()) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", e.Pid())
}

// Signal sends sig to Envoy alone (Stop signals its whole process group).
func (e *Envoy) Signal(sig syscall.Signal) error { return e.cmd.Process.Signal(sig) }

// WaitExit waits up to timeout for Envoy to exit and returns how it did;
// ok is false if it is still running.
func (e *Envoy) WaitExit(timeout time.Duration) (state *os.ProcessState, ok bool) {
	select {
	case <-e.done:
		return e.cmd.ProcessState, true
	case <-time.After(timeout):
		return nil, false
	}
}

// Ready reports whether the admin endpoint answers /ready with 200.
func (e *Envoy) Ready() bool {
	code, _, err := e.Admin("/ready")
	return err == nil && code == http.StatusOK
}

// TryEnvoy starts Envoy on a bootstrap that may be refused: it returns
// once Envoy is ready (ready true) or has exited (ready false; see
// WaitExit for how). It fails the test only if Envoy does neither within
// the start timeout. Envoy is stopped when the test ends.
func TryEnvoy(t testing.TB, bootstrapYAML string, adminPort int, args ...string) (e *Envoy, ready bool) {
	t.Helper()
	e = launch(t, bootstrapYAML, args...)
	e.AdminPort = adminPort
	t.Cleanup(e.Stop)
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-e.done:
			return e, false
		default:
		}
		if e.Ready() {
			return e, true
		}
		if time.Now().After(deadline) {
			t.Fatalf("envoy neither ready nor exited after %v; log:\n%s", startTimeout, tail(e.Log(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Crashed tells whether an exit was a crash: killed by a signal other
// than the SIGTERM/SIGKILL Stop sends, or a log showing Envoy's crash
// handler or a Go runtime fatal error. It returns the evidence.
func Crashed(state *os.ProcessState, log string) (bool, string) {
	if state != nil {
		if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() &&
			ws.Signal() != syscall.SIGTERM && ws.Signal() != syscall.SIGKILL {
			return true, "killed by " + ws.Signal().String()
		}
	}
	for _, mark := range crashMarks {
		if strings.Contains(log, mark) {
			return true, "log shows " + strconv.Quote(mark)
		}
	}
	// The Go runtime's own last words start a line; the module's recovered
	// panics ("btp: recovered panic: ...") do not.
	if m := goDeath.FindString(log); m != "" {
		return true, "log shows " + strconv.Quote(m)
	}
	return false, ""
}

var goDeath = regexp.MustCompile(`(?m)^(panic: |fatal error: ).*`)

// crashMarks are what Envoy's signal handler and the Go runtime print when
// the process dies of a fault or an unrecovered panic.
var crashMarks = []string{"Caught Segmentation fault", "Caught Aborted", "Caught Bus error",
	"Caught Illegal instruction", "Caught Floating point", "Backtrace (use tools/stack_decode.py",
	"[signal SIGSEGV", "RELEASE_ASSERT"}

// AdminURL is http://127.0.0.1:<admin port><path>, for admin requests
// other than GET (Admin).
func (e *Envoy) AdminURL(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(e.AdminPort) + path
}
