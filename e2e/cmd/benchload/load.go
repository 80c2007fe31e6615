package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// users is how many distinct x-user-id values the load sends (each gets
// its own bucket under the policy's Distinct rule, and its own native
// descriptor).
const users = 64

// requests are the load's requests, one per user, written as they go on
// the wire (HTTP/1.1, keep-alive).
func requests() [][]byte {
	out := make([][]byte, users)
	for i := range out {
		out[i] = []byte("GET /api/items/42 HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: benchload\r\nAccept: */*\r\nx-user-id: user-" + strconv.Itoa(i) + "\r\n\r\n")
	}
	return out
}

// result is one load run against one Envoy.
type result struct {
	n        int             // requests answered
	statuses map[int]int     // status code -> count
	lat      []time.Duration // per request, sorted
	wall     time.Duration
}

// load sends n requests to addr over conns keep-alive connections, each
// connection one request at a time, and stops after n requests or limit,
// whichever comes first. The client's CPU is not what is measured
// (Envoy's is), so it may use net/http's response parser.
func load(ctx context.Context, addr string, n, conns int, limit time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	reqs := requests()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	start := time.Now()
	statuses, err := onConns(conns, func(int) (map[int]int, error) {
		return loadConn(ctx, addr, reqs, lat, &next)
	})
	wall := time.Since(start)
	done := 0
	for _, v := range statuses {
		done += v
	}
	lat = lat[:done]
	slices.Sort(lat)
	r := result{n: done, statuses: statuses, lat: lat, wall: wall}
	if err != nil {
		return r, err
	}
	if done < n {
		return r, fmt.Errorf("only %d of %d requests answered within %v", done, n, limit)
	}
	return r, nil
}

// loadConn runs one connection until next passes len(lat) or ctx ends.
// lat is indexed by request number, so connections never share a slot.
func loadConn(ctx context.Context, addr string, reqs [][]byte, lat []time.Duration, next *atomic.Int64) (map[int]int, error) {
	seen := map[int]int{}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return seen, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReader(conn)
	for {
		i := next.Add(1) - 1
		if i >= int64(len(lat)) || ctx.Err() != nil {
			return seen, nil
		}
		t0 := time.Now()
		status, err := roundTrip(conn, br, reqs[i%users])
		if err != nil {
			return seen, err
		}
		lat[i] = time.Since(t0)
		seen[status]++
	}
}

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// cpuTime is process pid's CPU time, user + system, all threads: the
// kernel's per-process CPU clock (clock_gettime on the pid's
// CPUCLOCK_SCHED clock), the nanosecond-resolution counterpart of utime +
// stime in /proc/<pid>/stat (which counts 10 ms ticks).
func cpuTime(pid int) (time.Duration, error) {
	clock := (^uintptr(pid))<<3 | 2 // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clock, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, fmt.Errorf("clock_gettime(cpu clock of pid %d): %w", pid, e)
	}
	return time.Duration(ts.Nano()), nil
}

// statCPU is utime + stime from /proc/<pid>/stat, in clock ticks (USER_HZ,
// 100 per second on Linux): the cross-check for cpuTime.
func statCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name: state is field 3,
	// utime 14 and stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// rss is the process's resident set size (VmRSS) in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// openLoop sends n requests to addr at a fixed rate over conns keep-alive
// connections: request i is due at start + i/rate on connection i%conns,
// whether or not earlier answers came back, and its latency runs from when
// it was due (a connection still waiting for an earlier answer delays it,
// and that delay counts). It stops after n requests or limit.
func openLoop(ctx context.Context, addr string, rate float64, n, conns int, limit time.Duration) (result, error) {
	if rate <= 0 || n <= 0 {
		return result{}, fmt.Errorf("fixed rate %.1f/s for %d requests: both must be positive", rate, n)
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	reqs := requests()
	lat := make([]time.Duration, n)
	answered := make([]bool, n)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now().Add(10 * time.Millisecond) // every connection dialled
	statuses, err := onConns(min(conns, n), func(c int) (map[int]int, error) {
		return openConn(ctx, addr, reqs, c, conns, start, interval, lat, answered)
	})
	wall := time.Since(start)
	done := 0
	kept := lat[:0]
	for i, ok := range answered {
		if ok {
			kept = append(kept, lat[i])
			done++
		}
	}
	slices.Sort(kept)
	r := result{n: done, statuses: statuses, lat: kept, wall: wall}
	if err != nil {
		return r, err
	}
	if done < n {
		return r, fmt.Errorf("only %d of %d requests answered within %v", done, n, limit)
	}
	return r, nil
}

// openConn sends requests c, c+conns, ... of lat on one connection, each
// when it is due.
func openConn(ctx context.Context, addr string, reqs [][]byte, c, conns int, start time.Time, interval time.Duration, lat []time.Duration, answered []bool) (map[int]int, error) {
	seen := map[int]int{}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return seen, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReader(conn)
	for i := c; i < len(lat); i += conns {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return seen, nil
			}
		}
		if ctx.Err() != nil {
			return seen, nil
		}
		status, err := roundTrip(conn, br, reqs[i%users])
		if err != nil {
			return seen, err
		}
		lat[i], answered[i] = time.Since(due), true
		seen[status]++
	}
	return seen, nil
}

// contextSwitches sums voluntary and nonvoluntary context switches over
// every thread of process pid (/proc/<pid>/task/*/status): how often
// Envoy's threads went to sleep or were put off a CPU, i.e. were woken.
func contextSwitches(pid int) (int64, error) {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/status")
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, k := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if v, ok := strings.CutPrefix(line, k); ok {
					n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					if err != nil {
						return 0, fmt.Errorf("/proc/%d/task/%s/status: %q", pid, t.Name(), line)
					}
					sum += n
				}
			}
		}
	}
	return sum, nil
}

// onConns runs conn(0) ... conn(n-1) at once, one goroutine each, and
// returns their status counts summed and the first error any returned.
func onConns(n int, conn func(c int) (map[int]int, error)) (map[int]int, error) {
	var mu sync.Mutex
	statuses := map[int]int{}
	var first error
	var wg sync.WaitGroup
	for c := range n {
		wg.Go(func() {
			seen, err := conn(c)
			mu.Lock()
			defer mu.Unlock()
			for k, v := range seen {
				statuses[k] += v
			}
			if first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	return statuses, first
}

// roundTrip sends one request on conn and reads its whole response.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (int, error) {
	if _, err := conn.Write(req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}
