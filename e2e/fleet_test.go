package e2e

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// TestFleet is issue 11's acceptance test: two real Envoys fetch everything
// from one `btp serve` (one over state-of-the-world ADS, one over delta) and
// share one listener port (SO_REUSEPORT: the kernel spreads connections
// between them). Under a constant request loop (keep-alive connections
// pinned to each Envoy, new connections wherever the kernel puts them) the
// policy files are edited 20 times: rate limits, a new route, a removed
// route, a retry change, a compressor that changes the listener. Every answer
// must be a success or what the policy in force demands (429, 404, the
// backend's 409 without retry); anything else, a 5xx, a reset or a
// connection error, is counted as unexplained and the bar is 0. Each rate
// limit is then checked exactly, and a bucket of an unchanged rule must keep
// its count across the push. Then a bad edit (both Envoys keep the previous
// config, /status shows the error, the fix recovers), a killed and restarted
// server (the Envoys keep serving, reconnect and take the new server's
// snapshot) and an Envoy started late (it gets the current snapshot). The
// figures (answers per status, time from a rate-limit edit to both Envoys
// enforcing it) are logged; BENCHMARKS.md records them.
//
// BTP_FLEET_EDITS=N runs N edits instead of 20 (a longer soak; the request
// loop stays bounded by fleetLoopMax and fleetLoopTime).
func TestFleet(t *testing.T) {
	edits := 20
	if v := os.Getenv("BTP_FLEET_EDITS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("BTP_FLEET_EDITS=%q: want a positive number of edits", v)
		}
		edits = n
	}
	f := newFleet(t)
	f.addEnvoy("fleet-0")            // state of the world
	f.addEnvoy("fleet-1", "--delta") // incremental
	st := f.srv.WaitStatus(t, fleetBound, "the first version acked by both Envoys", f.ackedByAll(""))
	f.version = st.Version
	for _, e := range f.fleet() {
		e.RequireLoopbackUpstreams(t)
	}
	f.tl.confirm()
	if !f.answersAs(0, f.tl.current()) || !f.answersAs(1, f.tl.current()) {
		t.Fatalf("the Envoys do not answer as the initial policy demands (%v)", f.tl.current())
	}

	stop := make(chan struct{})
	loop := f.startLoop(stop)
	stopped := false
	stopLoop := func() {
		if !stopped {
			stopped = true
			close(stop)
			loop.Wait()
		}
	}
	defer stopLoop()

	// The edits, each applied once the previous one is enforced by every
	// Envoy and acked by every node.
	var limitTimes []time.Duration
	s := f.tl.current()
	for i := range edits {
		next, what := fleetEdit(s, i)
		held := f.holdBuckets(s)
		d := f.apply(next, i%2 == 1)
		f.checkBuckets(held, s, next)
		if next.limit != s.limit {
			limitTimes = append(limitTimes, d)
			f.checkLimit(next)
		}
		t.Logf("edit %2d at +%v (%s): enforced by both Envoys %v after the write, version %s",
			i+1, f.tl.sinceStart(), what, d.Round(time.Millisecond), f.version)
		s = next
	}

	// A bad edit reaches no Envoy; fixing it recovers.
	f.badEdit()
	s.limit++
	d := f.apply(s, false)
	f.checkLimit(s)
	t.Logf("fix of the bad edit: enforced %v after the write, version %s", d.Round(time.Millisecond), f.version)

	// A killed server: the Envoys keep their config and keep serving. An
	// edit made meanwhile arrives with the restarted server's snapshot.
	f.srv.Kill()
	down := time.Now()
	prev := s
	s.limit++
	f.tl.begin(s)
	f.write(s, true)
	time.Sleep(time.Second)
	for k := range f.fleet() {
		if !f.answersAs(k, prev) {
			t.Errorf("envoy %s: while the server is down it no longer answers as version %s demands (%v)", f.nodes[k], f.version, prev)
		}
	}
	restart := time.Now()
	f.srv.Start(t)
	prevVersion := f.version
	enforced := f.observe(s)
	st = f.srv.WaitStatus(t, fleetBound, "the restarted server's snapshot acked by both Envoys", f.ackedByAll(""))
	f.tl.confirm()
	f.version = st.Version
	t.Logf("server killed for %v: both Envoys served on, reconnected and enforce the edit made meanwhile %v after the restart (version %s, was %s)",
		restart.Sub(down).Round(time.Millisecond), enforced.Sub(restart).Round(time.Millisecond), f.version, prevVersion)
	f.checkLimit(s)

	// An Envoy started late gets the current snapshot.
	late := f.addEnvoy("fleet-late", "--delta")
	f.srv.WaitStatus(t, fleetBound, "the late Envoy acks the current version", f.ackedByAll(f.version))
	if got, want := late.DynamicConfig(t), f.fleet()[0].DynamicConfig(t); !slices.Equal(got, want) {
		t.Errorf("the late Envoy runs another configuration than fleet-0:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	late.RequireLoopbackUpstreams(t)
	if !f.answersAs(2, s) {
		t.Errorf("late Envoy does not answer as the current policy demands (%v)", s)
	}
	f.checkLimit(s)
	time.Sleep(time.Second) // the loop's new connections reach it too

	stopLoop()
	f.report(limitTimes)
}

const (
	// fleetBound is the generous functional bound on any one step (an edit
	// enforced, a server answering); the figures are logged, not asserted.
	fleetBound = 10 * time.Second
	// fleetLoopMax and fleetLoopTime bound each request loop worker.
	fleetLoopMax  = 50000
	fleetLoopTime = 150 * time.Second
	// fleetDrain is the Envoys' --drain-time-s.
	fleetDrain = 2 * time.Second
	// fleetKeepAliveWorkers is how many loop workers use keep-alive
	// connections, half pinned to each of the first two Envoys.
	fleetKeepAliveWorkers = 4
)

// fleetRoutes are the fixture's routes (PathPrefix /NAME), each with its own
// backend fleet-NAME.
var fleetRoutes = []string{"stable", "limited", "new", "retry"}

// fleetState is what the policy files say.
type fleetState struct {
	limit    int  // /limited: requests per hour per x-probe value
	newRoute bool // /new is routed (else Envoy's 404)
	retryOn  int  // /retry retries this status; its backend fails each request's first attempt with 409
	compress bool // /stable has a compressor: the listener's filter chain changes, its connections drain
	bad      bool // policies.yaml carries an invalid loadBalancer.type
}

func (s fleetState) String() string {
	return fmt.Sprintf("limit %d/h, /new routed %v, retry on %d, compressor %v", s.limit, s.newRoute, s.retryOn, s.compress)
}

// fleetEdit is edit i of the sequence from s: rate-limit changes, the route
// /new added and removed, the retry's status codes changed, a compressor
// added to and removed from /stable, some at once.
func fleetEdit(s fleetState, i int) (fleetState, string) {
	var what []string
	switch i % 10 {
	case 1, 6:
		s.newRoute = !s.newRoute
		what = append(what, fmt.Sprintf("/new routed %v", s.newRoute))
	case 3, 8:
		s.retryOn = map[int]int{409: 503, 503: 409}[s.retryOn]
		what = append(what, fmt.Sprintf("retry on %d", s.retryOn))
	case 5:
		s.newRoute = !s.newRoute
		s.limit += 2
		what = append(what, fmt.Sprintf("/new routed %v", s.newRoute), fmt.Sprintf("limit %d/h", s.limit))
	case 7:
		s.compress = !s.compress
		what = append(what, fmt.Sprintf("compressor on /stable %v (a listener update)", s.compress))
	default:
		s.limit += 2
		what = append(what, fmt.Sprintf("limit %d/h", s.limit))
	}
	return s, strings.Join(what, ", ")
}

// fleetAnswer is one response (or failure) a client of the fleet saw.
type fleetAnswer struct {
	start, end time.Time
	kind       string // keep-alive, new connection, probe
	path       string
	status     int
	limit      string // x-ratelimit-limit
	remaining  string // x-ratelimit-remaining
	backend    string // harness.BackendHeader
	body       string // the first bytes of an answer that is not a 200
	newConn    bool   // sent on a connection opened for it
	conns      int    // connections it was sent on (2: the first closed under it, the client retried)
	closeAsked bool   // the answer said Connection: close
	err        error
}

// explains reports whether s demands a (or allows it: a success).
func (s fleetState) explains(a fleetAnswer) bool {
	if a.err != nil {
		return false
	}
	switch a.path {
	case "/stable":
		return a.status == http.StatusOK && a.backend == "fleet-stable"
	case "/limited":
		served := a.status == http.StatusOK && a.backend == "fleet-limited" ||
			a.status == http.StatusTooManyRequests && a.backend == ""
		return served && a.limit == strconv.Itoa(s.limit)
	case "/new":
		if s.newRoute {
			return a.status == http.StatusOK && a.backend == "fleet-new"
		}
		return a.status == http.StatusNotFound && a.backend == ""
	case "/retry":
		want := http.StatusConflict // the backend's answer to the first attempt
		if s.retryOn == http.StatusConflict {
			want = http.StatusOK
		}
		return a.status == want && a.backend == "fleet-retry"
	}
	return false
}

// timeline is the sequence of states the files went through: each written
// at some time and confirmed once every Envoy enforced it and every node
// acked it.
type timeline struct {
	mu     sync.Mutex
	epochs []epoch
}

type epoch struct {
	state              fleetState
	written, confirmed time.Time
}

func (tl *timeline) begin(s fleetState) time.Time {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	now := time.Now()
	tl.epochs = append(tl.epochs, epoch{state: s, written: now})
	return now
}

func (tl *timeline) confirm() {
	tl.mu.Lock()
	tl.epochs[len(tl.epochs)-1].confirmed = time.Now()
	tl.mu.Unlock()
}

// sinceStart is the time since the first state was written.
func (tl *timeline) sinceStart() time.Duration {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return time.Since(tl.epochs[0].written).Round(time.Millisecond)
}

// current is the state last written.
func (tl *timeline) current() fleetState {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.epochs[len(tl.epochs)-1].state
}

// inForce is every state a request that ran from start to end may have been
// answered under: those written before it ended whose successor was not yet
// confirmed when it started (a request in flight during a push may see the
// old or the new policy). Each Envoy runs one worker, so a state it showed
// on one connection holds for every request it starts afterwards.
func (tl *timeline) inForce(start, end time.Time) []fleetState {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []fleetState
	for i, e := range tl.epochs {
		if e.written.After(end) {
			break
		}
		if i+1 < len(tl.epochs) {
			if c := tl.epochs[i+1].confirmed; !c.IsZero() && c.Before(start) {
				continue
			}
		}
		out = append(out, e.state)
	}
	return out
}

// fleet is the server, its Envoys, the fixture's files and backends, and
// every answer seen.
type fleet struct {
	t                        *testing.T
	port                     int
	routesFile, policiesFile string
	backends                 map[string]*harness.Backend
	srv                      *harness.Serve
	version                  string         // the last version every Envoy acked
	drains                   [][2]time.Time // from the write of a listener change to the end of its drain
	tl                       timeline
	lastRoutes, lastPolicies string
	seq                      atomic.Int64
	mu                       sync.Mutex
	envoys                   []*harness.Envoy
	nodes                    []string
	pinned                   []*http.Client
	answersMu                sync.Mutex
	answers                  []fleetAnswer
	peerCloses               []time.Time // when Envoy closed a keep-alive worker's connection
}

// peerClosed records that Envoy closed a keep-alive worker's connection.
func (f *fleet) peerClosed() {
	f.answersMu.Lock()
	f.peerCloses = append(f.peerCloses, time.Now())
	f.answersMu.Unlock()
}

func newFleet(t *testing.T) *fleet {
	dir := t.TempDir()
	f := &fleet{t: t, port: harness.FreePort(t), backends: map[string]*harness.Backend{},
		routesFile: filepath.Join(dir, "routes.yaml"), policiesFile: filepath.Join(dir, "policies.yaml")}
	for _, r := range fleetRoutes {
		f.backends[r] = harness.StartBackend(t, "fleet-"+r)
	}
	s := fleetState{limit: 10, retryOn: http.StatusConflict}
	f.tl.begin(s)
	f.write(s, false)
	f.srv = harness.StartServe(t, []string{f.routesFile, f.policiesFile}, "--host", "dynamic-module")
	return f
}

// write renders s into the two files, writing only a file that changes: in
// place (truncate and write, as `cat >` does) or atomically (a temporary file
// renamed over it, as editors and config tools do).
func (f *fleet) write(s fleetState, inPlace bool) {
	f.t.Helper()
	var routes []map[string]any
	for _, r := range fleetRoutes {
		if r == "new" && !s.newRoute {
			continue
		}
		routes = append(routes, map[string]any{"name": r, "port": f.backends[r].Port})
	}
	v := harness.Vars{Port: f.port, Values: map[string]any{"routes": routes, "limit": s.limit, "retryOn": s.retryOn, "compress": s.compress, "bad": s.bad}}
	for _, file := range []struct {
		path, tmpl string
		last       *string
	}{
		{f.routesFile, "testdata/fleet/routes.yaml.tmpl", &f.lastRoutes},
		{f.policiesFile, "testdata/fleet/policies.yaml.tmpl", &f.lastPolicies},
	} {
		text := harness.Execute(f.t, file.tmpl, v)
		if text == *file.last {
			continue
		}
		*file.last = text
		if inPlace {
			if err := os.WriteFile(file.path, []byte(text), 0o644); err != nil {
				f.t.Fatal(err)
			}
			continue
		}
		tmp := file.path + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			f.t.Fatal(err)
		}
		if err := os.Rename(tmp, file.path); err != nil {
			f.t.Fatal(err)
		}
	}
}

// addEnvoy starts an Envoy on the server's xDS bootstrap and waits until it
// is ready, that is, runs a snapshot. One worker (see timeline.inForce); a
// changed listener's connections drain gradually over fleetDrain, as
// docs/xds.md advises. bootstrapFlags go to `btp render --xds` (--delta).
func (f *fleet) addEnvoy(node string, bootstrapFlags ...string) *harness.Envoy {
	f.t.Helper()
	admin := harness.FreePort(f.t)
	e := harness.StartEnvoy(f.t, f.srv.XDSBootstrap(f.t, node, admin, bootstrapFlags...), admin,
		"--concurrency", "1", "--drain-strategy", "gradual", "--drain-time-s", strconv.Itoa(int(fleetDrain/time.Second)))
	f.mu.Lock()
	f.envoys = append(f.envoys, e)
	f.nodes = append(f.nodes, node)
	f.pinned = append(f.pinned, harness.PinnedClient(f.port, e, f.fleet, nil))
	f.mu.Unlock()
	return e
}

func (f *fleet) fleet() []*harness.Envoy {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.envoys)
}

// ackedByAll holds once the server logged that every Envoy acked the
// served version (which must be version unless that is ""), each is
// connected and nacked nothing, and no edit is refused.
func (f *fleet) ackedByAll(version string) func(harness.ServeStatus) bool {
	f.mu.Lock()
	nodes := slices.Clone(f.nodes)
	f.mu.Unlock()
	return func(st harness.ServeStatus) bool {
		if st.Error != "" || (version != "" && st.Version != version) || !f.srv.AckedBy(st.Version, nodes) {
			return false
		}
		for _, n := range nodes {
			if ns := st.Nodes[n]; !ns.Connected || len(ns.Nacked) != 0 {
				return false
			}
		}
		return true
	}
}

// get sends one request and records the answer.
func (f *fleet) get(c *http.Client, kind, path string, header map[string]string) fleetAnswer {
	a := fleetAnswer{kind: kind, path: path}
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(f.port)+path, nil)
	if err != nil {
		f.t.Error(err)
		return a
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { a.newConn, a.conns = !i.Reused, a.conns+1 },
	}))
	a.start = time.Now()
	resp, err := c.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.backend, a.closeAsked = resp.StatusCode, resp.Header.Get(harness.BackendHeader), resp.Close
		a.limit, a.remaining = resp.Header.Get("x-ratelimit-limit"), resp.Header.Get("x-ratelimit-remaining")
		if a.status != http.StatusOK {
			a.body = string(b[:min(len(b), 64)])
		}
	}
	a.end, a.err = time.Now(), err
	f.answersMu.Lock()
	f.answers = append(f.answers, a)
	f.answersMu.Unlock()
	return a
}

// getPath asks path with the headers it needs: /limited counts against the
// x-probe value probe, /retry carries a fresh x-once-key so its backend
// fails the first attempt with 409.
func (f *fleet) getPath(c *http.Client, kind, path, probe string) fleetAnswer {
	var h map[string]string
	switch path {
	case "/limited":
		h = map[string]string{"x-probe": probe}
	case "/retry":
		h = map[string]string{"x-once-status": "409", "x-once-key": "k" + strconv.FormatInt(f.seq.Add(1), 10)}
	}
	return f.get(c, kind, path, h)
}

// startLoop runs the request loop until stop is closed (or its bounds):
// per first two Envoys, two workers on keep-alive connections pinned to it;
// two workers opening a new connection per request, which the kernel gives
// to any Envoy sharing the port.
func (f *fleet) startLoop(stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	deadline := time.Now().Add(fleetLoopTime)
	worker := func(c *http.Client, kind string, pace time.Duration) {
		defer wg.Done()
		paths := []string{"/stable", "/limited", "/new", "/retry"}
		for i := 0; i < fleetLoopMax && time.Now().Before(deadline); i++ {
			select {
			case <-stop:
				return
			default:
			}
			f.getPath(c, kind, paths[i%len(paths)], "loop")
			time.Sleep(pace)
		}
	}
	envoys := f.fleet()
	for _, e := range envoys[:2] {
		for range fleetKeepAliveWorkers / 2 {
			wg.Add(1)
			go worker(harness.PinnedClient(f.port, e, f.fleet, f.peerClosed), "keep-alive", 3*time.Millisecond)
		}
	}
	fresh := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for range 2 {
		wg.Add(1)
		go worker(fresh, "new connection", 10*time.Millisecond)
	}
	return &wg
}

// answersAs reports whether Envoy k answers /limited, /new and /retry as s
// demands.
func (f *fleet) answersAs(k int, s fleetState) bool {
	f.mu.Lock()
	c := f.pinned[k]
	f.mu.Unlock()
	for _, p := range []string{"/limited", "/new", "/retry"} {
		if !s.explains(f.getPath(c, "probe", p, "poll")) {
			return false
		}
	}
	return true
}

// observe polls every Envoy until each answers as s demands and returns
// when the last one did; the test fails after fleetBound.
func (f *fleet) observe(s fleetState) time.Time {
	f.t.Helper()
	deadline := time.Now().Add(fleetBound)
	pending := make([]int, len(f.fleet()))
	for k := range pending {
		pending[k] = k
	}
	for {
		pending = slices.DeleteFunc(pending, func(k int) bool { return f.answersAs(k, s) })
		if len(pending) == 0 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("envoys %v do not answer as %v demands %v after the write", pending, s, fleetBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// apply writes s, waits until every Envoy enforces it and every node acked
// the new version, and returns the time from the write to enforced.
func (f *fleet) apply(s fleetState, inPlace bool) time.Duration {
	f.t.Helper()
	prev, prevState := f.version, f.tl.current()
	modified := map[*harness.Envoy]int64{}
	for _, e := range f.fleet() {
		modified[e] = e.Stat(f.t, "listener_manager.listener_modified")
	}
	written := f.tl.begin(s)
	f.write(s, inPlace)
	enforced := f.observe(s)
	if s.compress != prevState.compress {
		// No answer tells a compressor on 13-byte bodies; each Envoy's
		// listener update does.
		for _, e := range f.fleet() {
			e.WaitStat(f.t, "listener_manager.listener_modified", fleetBound, func(v int64) bool { return v > modified[e] })
		}
		enforced = time.Now()
		// Its old connections close over the drain time (2 s, addEnvoy).
		f.drains = append(f.drains, [2]time.Time{written, enforced.Add(fleetDrain + time.Second)})
	}
	st := f.srv.WaitStatus(f.t, fleetBound, "a new version acked by every Envoy", func(st harness.ServeStatus) bool {
		return st.Version != prev && f.ackedByAll("")(st)
	})
	f.tl.confirm()
	f.version = st.Version
	// The files name loopback backends only; this proves nothing else
	// reached an Envoy (an edit may add clusters).
	for _, e := range f.fleet() {
		e.RequireLoopbackUpstreams(f.t)
	}
	return enforced.Sub(written)
}

// checkLimit proves each Envoy enforces s.limit exactly: a fresh x-probe
// value gets s.limit answers and then a 429.
func (f *fleet) checkLimit(s fleetState) {
	f.t.Helper()
	f.mu.Lock()
	clients, nodes := slices.Clone(f.pinned), slices.Clone(f.nodes)
	f.mu.Unlock()
	for k, c := range clients {
		probe := "check-" + strconv.FormatInt(f.seq.Add(1), 10)
		for i := 1; i <= s.limit+1; i++ {
			a := f.getPath(c, "probe", "/limited", probe)
			want := http.StatusOK
			if i > s.limit {
				want = http.StatusTooManyRequests
			}
			if a.err != nil || a.status != want || a.limit != strconv.Itoa(s.limit) {
				f.t.Errorf("envoy %s, limit %d: request %d: status %d x-ratelimit-limit %q err %v, want %d and %d",
					nodes[k], s.limit, i, a.status, a.limit, a.err, want, s.limit)
				break
			}
		}
	}
}

// heldBucket is a Distinct bucket of /limited on one Envoy with tokens
// taken before an edit.
type heldBucket struct {
	client *http.Client
	node   string
	probe  string
	taken  int
}

// holdBuckets takes two tokens of a fresh x-probe value on every Envoy
// under s, so checkBuckets can tell after the edit whether the bucket
// survived the push.
func (f *fleet) holdBuckets(s fleetState) []heldBucket {
	f.t.Helper()
	f.mu.Lock()
	clients, nodes := slices.Clone(f.pinned), slices.Clone(f.nodes)
	f.mu.Unlock()
	var out []heldBucket
	for k, c := range clients {
		h := heldBucket{client: c, node: nodes[k], probe: "held-" + strconv.FormatInt(f.seq.Add(1), 10), taken: 2}
		for i := 1; i <= h.taken; i++ {
			if a := f.getPath(c, "probe", "/limited", h.probe); a.status != http.StatusOK || a.remaining != strconv.Itoa(s.limit-i) {
				f.t.Errorf("envoy %s: %s request %d: status %d x-ratelimit-remaining %q, want 200 and %d", h.node, h.probe, i, a.status, a.remaining, s.limit-i)
			}
		}
		out = append(out, h)
	}
	return out
}

// checkBuckets proves local rate-limit state across a push: when the
// /limited rule did not change (prev.limit == next.limit) every held bucket
// kept its count; when it changed, the new rule starts with full buckets.
func (f *fleet) checkBuckets(held []heldBucket, prev, next fleetState) {
	f.t.Helper()
	for _, h := range held {
		want := next.limit - 1 // a fresh bucket after this request
		if prev.limit == next.limit {
			want = next.limit - h.taken - 1
		}
		if a := f.getPath(h.client, "probe", "/limited", h.probe); a.status != http.StatusOK || a.remaining != strconv.Itoa(want) {
			f.t.Errorf("envoy %s: after the push (limit %d -> %d) %s has x-ratelimit-remaining %q (status %d), want %d: the rule's bucket must survive a push that leaves it unchanged and start full when it changes",
				h.node, prev.limit, next.limit, h.probe, a.remaining, a.status, want)
		}
	}
}

// badEdit writes an invalid policy file: the server reports it and keeps
// serving the last good version, which every Envoy keeps running.
func (f *fleet) badEdit() {
	f.t.Helper()
	cur := f.tl.current()
	before := map[string]map[string]string{}
	for k, e := range f.fleet() {
		before[f.nodes[k]] = e.XDSVersions(f.t)
	}
	bad := cur
	bad.bad = true
	f.write(bad, false) // no epoch: nothing of it may reach an Envoy
	st := f.srv.WaitStatus(f.t, fleetBound, "the bad edit reported", func(st harness.ServeStatus) bool { return st.Error != "" })
	for _, want := range []string{"policies.yaml", "BackendTrafficPolicy/default/retry", "spec.loadBalancer.type", `"Foo"`} {
		if !strings.Contains(st.Error, want) {
			f.t.Errorf("/status error %q does not name %s", st.Error, want)
		}
	}
	if st.Version != f.version {
		f.t.Errorf("after the bad edit the server serves version %s, want the last good %s", st.Version, f.version)
	}
	// Time for a wrong push to land, if there were one.
	time.Sleep(300 * time.Millisecond)
	st, err := f.srv.Status()
	if err != nil {
		f.t.Fatal(err)
	}
	for k, e := range f.fleet() {
		n := f.nodes[k]
		if ns := st.Nodes[n]; !ns.Connected || len(ns.Nacked) != 0 {
			f.t.Errorf("after the bad edit node %s: %+v, want it connected with nothing nacked", n, ns)
		}
		if got := e.XDSVersions(f.t); !maps.Equal(got, before[n]) {
			f.t.Errorf("after the bad edit envoy %s runs %v, want %v", n, got, before[n])
		}
		if !f.answersAs(k, cur) {
			f.t.Errorf("after the bad edit envoy %s no longer answers as %v demands", n, cur)
		}
	}
	if log := f.srv.Log(); !strings.Contains(log, "spec.loadBalancer.type") {
		f.t.Errorf("btp serve's stderr does not report the bad edit:\n%s", log)
	}
	f.t.Logf("bad edit refused: %s", st.Error)
}

// report checks every answer against the policy in force when it was sent,
// and logs the figures.
func (f *fleet) report(limitTimes []time.Duration) {
	f.t.Helper()
	f.answersMu.Lock()
	answers := slices.Clone(f.answers)
	f.answersMu.Unlock()
	perStatus, perKind := map[string]int{}, map[string]int{}
	var unexplained []fleetAnswer
	// Envoy may close a keep-alive connection (Connection: close on an
	// answer, or closing or resetting it) only while a listener update drains
	// it, never for a route or policy push or the server restart.
	inDrain := func(at time.Time) bool {
		return slices.ContainsFunc(f.drains, func(d [2]time.Time) bool { return at.After(d[0]) && at.Before(d[1]) })
	}
	drainCloses := 0
	var strayCloses []string
	closed := func(at time.Time, how string) {
		if inDrain(at) {
			drainCloses++
		} else {
			strayCloses = append(strayCloses, fmt.Sprintf("+%v (%s)", at.Sub(f.tl.epochs[0].written).Round(time.Millisecond), how))
		}
	}
	for _, at := range f.peerCloses {
		closed(at, "closed or reset by Envoy")
	}
	keepAliveConns := 0
	for _, a := range answers {
		perKind[a.kind]++
		if a.kind == "keep-alive" && a.newConn {
			keepAliveConns++
		}
		if a.kind == "keep-alive" && a.closeAsked {
			closed(a.end, "Connection: close on "+a.path)
		}
		key := strconv.Itoa(a.status)
		if a.err != nil {
			key = "error"
		}
		perStatus[key]++
		if !slices.ContainsFunc(f.tl.inForce(a.start, a.end), func(s fleetState) bool { return s.explains(a) }) {
			unexplained = append(unexplained, a)
		}
	}
	f.t.Logf("fleet: %d answers (%s); by status %s; unexplained (5xx, resets, connection errors, wrong policy): %d",
		len(answers), fmtCounts(perKind), fmtCounts(perStatus), len(unexplained))
	f.t.Logf("fleet: the %d keep-alive workers sent %d requests on %d connections; Envoy closed %d of them during the drains of %d listener updates, %d at other times",
		fleetKeepAliveWorkers, perKind["keep-alive"], keepAliveConns, drainCloses, len(f.drains), len(strayCloses))
	if len(strayCloses) != 0 {
		f.t.Errorf("Envoy closed keep-alive connections at %v, outside any listener update's drain: a route or policy push or the server restart closed connections", strayCloses)
	}
	for i, a := range unexplained {
		if i == 20 {
			f.t.Errorf("... and %d more", len(unexplained)-20)
			break
		}
		f.t.Errorf("unexplained: %s %s at +%v (%v): status %d x-ratelimit-limit %q backend %q body %q err %v; policies in force %v",
			a.kind, a.path, a.start.Sub(f.tl.epochs[0].written).Round(time.Millisecond), a.end.Sub(a.start).Round(time.Millisecond),
			a.status, a.limit, a.backend, a.body, a.err, f.tl.inForce(a.start, a.end))
	}
	for k, e := range f.fleet() {
		var rq, cx int64
		stats := e.Stats(f.t)
		for name, v := range stats {
			if strings.HasPrefix(name, "http.") && !strings.HasPrefix(name, "http.admin.") {
				if strings.HasSuffix(name, ".downstream_rq_total") {
					rq += v
				} else if strings.HasSuffix(name, ".downstream_cx_total") {
					cx += v
				}
			}
		}
		if rq == 0 || stats["btp.ratelimit.over_limit"] == 0 {
			f.t.Errorf("envoy %s served %d requests, %d refused by the rate limit: want both > 0", f.nodes[k], rq, stats["btp.ratelimit.over_limit"])
		}
		f.t.Logf("fleet: envoy %s: %d requests on %d connections, btp.ratelimit.over_limit %d, listener updates %d, versions %v",
			f.nodes[k], rq, cx, stats["btp.ratelimit.over_limit"], stats["listener_manager.listener_modified"], e.XDSVersions(f.t))
	}
	sort.Slice(limitTimes, func(i, j int) bool { return limitTimes[i] < limitTimes[j] })
	if n := len(limitTimes); n > 0 {
		f.t.Logf("fleet: rate-limit edit -> enforced by both Envoys over %d edits: p50 %v, p99 %v (nearest rank), max %v",
			n, pct(limitTimes, 50), pct(limitTimes, 99), limitTimes[n-1])
	}
}

// pct is the nearest-rank percentile p of sorted ds.
func pct(ds []time.Duration, p int) time.Duration {
	i := (len(ds)*p + 99) / 100
	return ds[max(i, 1)-1].Round(time.Millisecond)
}

func fmtCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
