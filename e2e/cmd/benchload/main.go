// Command benchload is `make bench-load`: it compares Envoy's CPU cost per
// request with no policy (bare), with the btp dynamic module enforcing a
// policy (module), and with Envoy's own filters configured for the same
// policy (native), in one interleaved run on loopback. Every configuration
// is one Envoy (--concurrency 1) in front of the same backend, rendered from
// the same `btp render` output (testdata/policy.yaml.tmpl; native filters in
// testdata/native.yaml). Before measuring, it checks that each
// configuration answers and that module and native enforce the policy.
//
// Each round measures every configuration once, starting one configuration
// later than the round before (bare, module, native; module, native, bare;
// ...). A measurement sends -requests requests over -conns keep-alive
// connections and reads Envoy's CPU time (all threads, from the kernel's
// process CPU clock) before and after. The report gives medians over the
// rounds: CPU µs per request, p50/p99 latency, RSS; and the median of the
// per-round differences to bare, which is the filters' own cost.
//
// With -callgrind DIR every Envoy runs under valgrind's callgrind, which
// counts the instructions Envoy (all threads, user space) executes during
// the rounds: deterministic where CPU time on a shared machine is not.
//
//	benchload -envoy .venv/bin/envoy -modules build/out -btp build/out/btp
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// options is one run's settings (flags in main; the smoke test sets its own).
type options struct {
	envoy, modules, btp string
	baseline            string   // directory of another libbtp_module.so, measured as module-base
	floor               string   // directory with sdk/ and abi/ libbtp_module.so: floor-sdk, floor-abi
	configs             []string // in round order
	requests, warmup    int      // per round / per configuration before the rounds
	rounds, conns       int
	roundLimit, limit   time.Duration // one round / the whole run
	port                func() int    // the next free port
	baseID              int           // first --base-id; < 0: --use-dynamic-base-id
	env                 []string      // extra environment for the module's Envoys
	callgrind           string        // directory: run Envoy under callgrind, count instructions
	openRounds          int           // fixed-rate rounds after the closed-loop ones
	openRate            float64       // their rate, as a fraction of bare's closed-loop requests/s
	openFor             time.Duration // one fixed-rate measurement's length
	openConns           int
	out                 io.Writer
	file                string // also write the report here
}

func main() {
	o := options{out: os.Stdout}
	configs := flag.String("configs", strings.Join(defaultConfigs, ","), "configurations, in round order: "+strings.Join(allConfigs, ", ")+", module-F and native-F for F in "+strings.Join(features, ", ")+"; NAME@K=V:K=V adds environment to a module configuration")
	flag.StringVar(&o.envoy, "envoy", os.Getenv("BTP_ENVOY"), "envoy binary (default $BTP_ENVOY)")
	flag.StringVar(&o.modules, "modules", os.Getenv("BTP_MODULE_DIR"), "directory holding libbtp_module.so (default $BTP_MODULE_DIR)")
	flag.StringVar(&o.btp, "btp", "build/out/btp", "the btp CLI, to render the policy")
	flag.StringVar(&o.baseline, "baseline", "", "directory holding another libbtp_module.so (e.g. built from main), measured as module-base in the same rounds")
	flag.StringVar(&o.floor, "floor", "", "directory holding sdk/libbtp_module.so (floor/) and abi/libbtp_module.so (plugin/dynmod -tags btpfloor), for floor-sdk and floor-abi")
	flag.IntVar(&o.openRounds, "open-rounds", 3, "fixed-rate (open-loop) rounds after the closed-loop rounds; 0: none")
	flag.Float64Var(&o.openRate, "open-rate", 0.7, "the fixed rate, as a fraction of bare's median closed-loop requests/s")
	flag.DurationVar(&o.openFor, "open-for", 3*time.Second, "one fixed-rate measurement's length")
	flag.IntVar(&o.openConns, "open-conns", 16, "keep-alive connections of the fixed-rate load")
	flag.StringVar(&o.file, "o", "", "also write the report (Markdown) to this file")
	flag.IntVar(&o.requests, "requests", 20000, "requests per configuration per round")
	flag.IntVar(&o.warmup, "warmup", 2000, "requests per configuration before the rounds, not measured")
	flag.IntVar(&o.rounds, "rounds", 9, "rounds")
	flag.IntVar(&o.conns, "conns", 4, "keep-alive connections, one request at a time each")
	flag.DurationVar(&o.roundLimit, "round-limit", 60*time.Second, "time limit of one configuration's round")
	flag.DurationVar(&o.limit, "timeout", 30*time.Minute, "time limit of the whole run")
	// Below the kernel's ephemeral range (32768-60999 here), where a
	// loaded machine's outgoing connections may hold any port.
	port := flag.Int("port", 32100, "first port: the backend, then a listener and an admin port per configuration")
	flag.IntVar(&o.baseID, "base-id", 1700, "Envoy --base-id of the first configuration (the others count up); -1: --use-dynamic-base-id")
	flag.StringVar(&o.callgrind, "callgrind", "", "directory: run each Envoy under valgrind --tool=callgrind, count its instructions per request in the rounds (deterministic; use few requests)")
	env := flag.String("env", "", "extra environment for the module's Envoys, comma-separated (e.g. GOGC=400)")
	flag.Parse()
	o.configs = strings.Split(*configs, ",")
	if *env != "" {
		o.env = strings.Split(*env, ",")
	}
	next := *port
	o.port = func() int { next++; return next - 1 }
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchload:", err)
		os.Exit(1)
	}
}

// defaultConfigs: the side-by-side set (BENCHMARKS.md, "Native cost").
var defaultConfigs = func() []string {
	c := []string{Bare, ModuleEmpty, ModuleOff, FloorSDK, FloorABI, Module, Native}
	for _, f := range features {
		c = append(c, Module+"-"+f, Native+"-"+f)
	}
	return c
}()

// sample is one configuration's measurement in one round.
type sample struct {
	cpu, statCPU time.Duration // Envoy's CPU time per request: process clock, /proc/<pid>/stat
	p50, p99     time.Duration
	rss          int64
	rps          float64
	switches     float64 // context switches of Envoy's threads per request
}

// startLoad is the load average when the run began.
var startLoad = loadAverage()

func run(o options) error {
	if o.envoy == "" || o.modules == "" {
		return fmt.Errorf("need -envoy and -modules (or BTP_ENVOY and BTP_MODULE_DIR); `make bench-load` sets them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.limit)
	defer cancel()

	setups := make([]setup, len(o.configs))
	for i, name := range o.configs {
		kind, _, _ := strings.Cut(name, "@")
		su, err := parseSetup(kind)
		if err != nil {
			return err
		}
		if su.kind == ModuleBase && o.baseline == "" {
			return fmt.Errorf("configuration %s needs -baseline DIR", ModuleBase)
		}
		if (su.kind == FloorSDK || su.kind == FloorABI) && o.floor == "" {
			return fmt.Errorf("configuration %s needs -floor DIR (`make bench-load` builds it)", su.kind)
		}
		setups[i] = su
	}

	backendPort := o.port()
	up, err := backend(fmt.Sprintf("127.0.0.1:%d", backendPort))
	if err != nil {
		return err
	}
	defer up.stop()

	envoys := make([]*envoy, len(o.configs))
	defer func() {
		for _, e := range envoys {
			if e != nil {
				e.stop()
			}
		}
	}()
	for i, name := range o.configs {
		// A configuration may carry its own environment for the module:
		// module@GOGC=400:GOMAXPROCS=4.
		_, vars, _ := strings.Cut(name, "@")
		su := setups[i]
		p := ports{listen: o.port(), admin: o.port(), backend: backendPort}
		boot, err := bootstrap(o.btp, su, p)
		if err != nil {
			return err
		}
		dir := o.modules
		switch su.kind {
		case ModuleBase:
			dir = o.baseline
		case FloorSDK:
			dir = filepath.Join(o.floor, "sdk")
		case FloorABI:
			dir = filepath.Join(o.floor, "abi")
		}
		godebug := "GODEBUG=cgocheck=0"
		if o.callgrind != "" {
			// Valgrind delivers the Go runtime's preemption signals
			// unreliably and then aborts Envoy now and then; the count is
			// of the same instructions without them.
			godebug += ",asyncpreemptoff=1"
		}
		env := []string{godebug, "ENVOY_DYNAMIC_MODULES_SEARCH_PATH=" + dir}
		if su.kind != Bare && su.kind != Native {
			env = append(env, o.env...)
			if vars != "" {
				env = append(env, strings.Split(vars, ":")...)
			}
		}
		baseID := o.baseID
		if baseID >= 0 {
			baseID += i
		}
		if envoys[i], err = startEnvoy(ctx, o.envoy, name, su, boot, p, baseID, env, o.callgrind); err != nil {
			return err
		}
		if err := checkPolicy(envoys[i], up); err != nil {
			return err
		}
	}
	for _, e := range envoys {
		if _, err := load(ctx, e.addr(), o.warmup, o.conns, o.roundLimit); err != nil {
			return fmt.Errorf("%s: warm-up: %w", e.name, err)
		}
	}

	closed := func(e *envoy) (result, error) { return load(ctx, e.addr(), o.requests, o.conns, o.roundLimit) }
	samples, err := rounds(o, envoys, o.rounds, "", closed)
	if err != nil {
		return err
	}
	if o.callgrind != "" {
		return reportInstructions(o, envoys)
	}
	var open [][]sample
	var rate float64
	bare := slices.IndexFunc(envoys, func(e *envoy) bool { return e.kind == Bare })
	if o.openRounds > 0 && bare >= 0 {
		rate = o.openRate * median(column(samples[bare], func(s sample) float64 { return s.rps }))
		n := int(rate * o.openFor.Seconds())
		fixed := func(e *envoy) (result, error) {
			return openLoop(ctx, e.addr(), rate, n, o.openConns, o.roundLimit)
		}
		if open, err = rounds(o, envoys, o.openRounds, fmt.Sprintf("at %.0f/s ", rate), fixed); err != nil {
			return err
		}
	}
	return writeReport(o, envoys, samples, open, rate)
}

// rounds measures every configuration n times with gen, interleaved: each
// round starts one configuration later, so none is always measured right
// after the same other one.
func rounds(o options, envoys []*envoy, n int, label string, gen func(*envoy) (result, error)) ([][]sample, error) {
	samples := make([][]sample, len(envoys))
	for r := 0; r < n; r++ {
		for j := range envoys {
			i := (j + r) % len(envoys)
			e := envoys[i]
			s, err := measure(e, o, gen)
			if err != nil {
				return nil, fmt.Errorf("%s: %sround %d: %w; envoy log:\n%s", e.name, label, r+1, err, e.log())
			}
			samples[i] = append(samples[i], s)
			fmt.Fprintf(os.Stderr, "%sround %d %-16s cpu %6.1f µs/req (stat %6.1f)  p50 %v  p99 %v  rss %d MiB  %.0f req/s  %.2f switches/req\n",
				label, r+1, e.name, us(s.cpu), us(s.statCPU), s.p50, s.p99, s.rss>>20, s.rps, s.switches)
		}
	}
	return samples, nil
}

// measure runs gen's load against e and reads Envoy's CPU time and its
// threads' context switches around it.
func measure(e *envoy, o options, gen func(*envoy) (result, error)) (sample, error) {
	if o.callgrind != "" {
		if err := e.callgrind("-i", "on"); err != nil {
			return sample{}, err
		}
		defer e.callgrind("-i", "off")
	}
	c0, err := cpuTime(e.pid())
	if err != nil {
		return sample{}, err
	}
	t0, err := statCPU(e.pid())
	if err != nil {
		return sample{}, err
	}
	w0, err := contextSwitches(e.pid())
	if err != nil {
		return sample{}, err
	}
	res, err := gen(e)
	if err != nil {
		return sample{}, err
	}
	c1, err := cpuTime(e.pid())
	if err != nil {
		return sample{}, err
	}
	t1, err := statCPU(e.pid())
	if err != nil {
		return sample{}, err
	}
	w1, err := contextSwitches(e.pid())
	if err != nil {
		return sample{}, err
	}
	if res.statuses[200] != res.n {
		return sample{}, fmt.Errorf("statuses %v: every request must be answered 200", res.statuses)
	}
	m, err := rss(e.pid())
	if err != nil {
		return sample{}, err
	}
	n := time.Duration(res.n)
	return sample{
		cpu: (c1 - c0) / n, statCPU: (t1 - t0) / n,
		p50: quantile(res.lat, 0.50), p99: quantile(res.lat, 0.99),
		rss: m, rps: float64(res.n) / res.wall.Seconds(),
		switches: float64(w1-w0) / float64(res.n),
	}, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func median[T int64 | float64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func column[T any](s []sample, f func(sample) T) []T {
	out := make([]T, len(s))
	for i := range s {
		out[i] = f(s[i])
	}
	return out
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// paired is the median over rounds of f(this round's sample, the other
// configuration's sample of the same round): ratios and differences are
// taken within a round, where both ran under the same machine load.
func paired[T int64 | float64 | time.Duration](a, b []sample, f func(a, b sample) T) T {
	v := make([]T, 0, len(a))
	for r := range min(len(a), len(b)) {
		v = append(v, f(a[r], b[r]))
	}
	return median(v)
}

func cpuRatio(a, b sample) float64 { return float64(a.cpu) / float64(b.cpu) }

// counterpart is the configuration a row is compared with: for the module
// (module-base, module-F) the native filters with the same features, for
// the floors and module-empty bare Envoy. -1: none in this run.
func counterpart(envoys []*envoy, e *envoy) int {
	want := ""
	switch e.kind {
	case Module, ModuleBase:
		want = Native
		if len(e.su.features) == 1 {
			for f := range e.su.features {
				want = Native + "-" + f
			}
		}
	case ModuleEmpty, FloorSDK, FloorABI, ModuleOff:
		want = Bare
	}
	return slices.IndexFunc(envoys, func(c *envoy) bool { return want != "" && c.name == want })
}

// writeReport prints the Markdown tables BENCHMARKS.md keeps, the command
// and machine they came from, and the targets; with -o also into
// that file.
func writeReport(o options, envoys []*envoy, closed, open [][]sample, rate float64) error {
	var buf strings.Builder
	report(&buf, o, envoys, closed, open, rate)
	fmt.Fprint(o.out, buf.String())
	if o.file != "" {
		return os.WriteFile(o.file, []byte(buf.String()), 0o644)
	}
	return nil
}

func report(w io.Writer, o options, envoys []*envoy, samples, open [][]sample, rate float64) {
	fmt.Fprintf(w, "Command: `benchload %s` (%d rounds x %d requests per configuration, %d connections; Envoy --concurrency 1)\n\n",
		strings.Join(os.Args[1:], " "), o.rounds, o.requests, o.conns)
	fmt.Fprintf(w, "Machine: %s, %d CPUs, %s; load average at the start %s, at the end %s\n", cpuModel(), runtime.NumCPU(), runtime.Version(), startLoad, loadAverage())
	if len(o.env) > 0 {
		fmt.Fprintf(w, "module environment: %s\n", strings.Join(o.env, " "))
	}
	bare := slices.IndexFunc(envoys, func(e *envoy) bool { return e.kind == Bare })
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| configuration | Envoy CPU µs/request, median (min–max) | over bare | ÷ bare | ÷ counterpart | context switches/request | p50 | p99 | RSS MiB | requests/s | requests/s ÷ counterpart |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i, e := range envoys {
		s := samples[i]
		cpu := column(s, func(s sample) time.Duration { return s.cpu })
		over, ratio := "–", "–"
		if bare >= 0 && i != bare {
			over = fmt.Sprintf("%+.1f µs", us(paired(s, samples[bare], func(a, b sample) time.Duration { return a.cpu - b.cpu })))
			ratio = fmt.Sprintf("%.3f", paired(s, samples[bare], cpuRatio))
		}
		vs, rpsVs := "–", "–"
		if c := counterpart(envoys, e); c >= 0 {
			vs = fmt.Sprintf("%.3f (%s)", paired(s, samples[c], cpuRatio), envoys[c].name)
			rpsVs = fmt.Sprintf("%.3f", paired(s, samples[c], func(a, b sample) float64 { return a.rps / b.rps }))
		}
		fmt.Fprintf(w, "| %s | %.1f (%.1f–%.1f) | %s | %s | %s | %.2f | %.0f µs | %.0f µs | %.1f | %.0f | %s |\n", e.name,
			us(median(cpu)), us(slices.Min(cpu)), us(slices.Max(cpu)), over, ratio, vs,
			median(column(s, func(s sample) float64 { return s.switches })),
			us(median(column(s, func(s sample) time.Duration { return s.p50 }))),
			us(median(column(s, func(s sample) time.Duration { return s.p99 }))),
			float64(median(column(s, func(s sample) int64 { return s.rss })))/(1<<20),
			median(column(s, func(s sample) float64 { return s.rps })), rpsVs)
	}
	fmt.Fprintln(w, "\n(Medians over rounds; over, ÷ and the counterpart ratios are medians of the per-round figures. The counterpart of module and module-F is native with the same features, of module-empty, module-off and the floors bare.)")
	if len(open) > 0 {
		fmt.Fprintf(w, "\nFixed rate (open loop): %d rounds, %.0f requests/s (%.0f%% of bare's closed-loop median) for %v over %d connections; latency from each request's scheduled send time.\n\n",
			o.openRounds, rate, 100*o.openRate, o.openFor, o.openConns)
		fmt.Fprintln(w, "| configuration | Envoy CPU µs/request | context switches/request | p50 | p99 | p99 over counterpart |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: |")
		for i, e := range envoys {
			s := open[i]
			vs := "–"
			if c := counterpart(envoys, e); c >= 0 {
				vs = fmt.Sprintf("%+.0f µs (%s)", us(paired(s, open[c], func(a, b sample) time.Duration { return a.p99 - b.p99 })), envoys[c].name)
			}
			fmt.Fprintf(w, "| %s | %.1f | %.2f | %.0f µs | %.0f µs | %s |\n", e.name,
				us(median(column(s, func(s sample) time.Duration { return s.cpu }))),
				median(column(s, func(s sample) float64 { return s.switches })),
				us(median(column(s, func(s sample) time.Duration { return s.p50 }))),
				us(median(column(s, func(s sample) time.Duration { return s.p99 }))), vs)
		}
	}
	targets(w, envoys, samples, open)
}

// targets prints issue 12's targets against this run's figures.
func targets(w io.Writer, envoys []*envoy, samples, open [][]sample) {
	at := func(name string) int { return slices.IndexFunc(envoys, func(e *envoy) bool { return e.name == name }) }
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	mod, nat, bare, empty := at(Module), at(Native), at(Bare), at(ModuleEmpty)
	fmt.Fprintln(w, "\n| target | this run | |")
	fmt.Fprintln(w, "| --- | ---: | --- |")
	if mod >= 0 && nat >= 0 {
		r := paired(samples[mod], samples[nat], cpuRatio)
		fmt.Fprintf(w, "| module (all five) CPU/request ≤ 1.10× native | %.3f× | %s |\n", r, met(r <= 1.10))
		q := paired(samples[mod], samples[nat], func(a, b sample) float64 { return a.rps / b.rps })
		fmt.Fprintf(w, "| module (all five) requests/s ≥ 0.90× native | %.3f× | %s |\n", q, met(q >= 0.90))
		if len(open) > 0 {
			d := paired(open[mod], open[nat], func(a, b sample) time.Duration { return a.p99 - b.p99 })
			fmt.Fprintf(w, "| module (all five) p99 at a fixed rate within 100 µs of native | %+.0f µs | %s |\n", us(d), met(d <= 100*time.Microsecond))
		}
	}
	// A route without btp config is module-off as btp renders it (the
	// module disabled in the chain); module-empty enables it with {}.
	if off := at(ModuleOff); off >= 0 && bare >= 0 {
		r := paired(samples[off], samples[bare], cpuRatio)
		fmt.Fprintf(w, "| module-off (a route without btp config) CPU/request ≤ 1.02× bare | %.3f× | %s |\n", r, met(r <= 1.02))
	}
	if empty >= 0 && bare >= 0 {
		fmt.Fprintf(w, "| (module-empty, enabled with {}) CPU/request ÷ bare | %.3f× | |\n", paired(samples[empty], samples[bare], cpuRatio))
	}
	for _, f := range []string{FloorSDK, FloorABI} {
		if i := at(f); i >= 0 && bare >= 0 {
			fmt.Fprintf(w, "| (floor) %s CPU/request ÷ bare | %.3f× | |\n", f, paired(samples[i], samples[bare], cpuRatio))
		}
	}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}
