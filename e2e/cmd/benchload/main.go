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
	"strconv"
	"strings"
	"time"
)

// options is one run's settings (flags in main; the smoke test sets its own).
type options struct {
	envoy, modules, btp string
	baseline            string   // directory of another libbtp_module.so, measured as module-base
	configs             []string // in round order
	requests, warmup    int      // per round / per configuration before the rounds
	rounds, conns       int
	roundLimit, limit   time.Duration // one round / the whole run
	port                func() int    // the next free port
	baseID              int           // first --base-id; < 0: --use-dynamic-base-id
	env                 []string      // extra environment for the module's Envoys
	callgrind           string        // directory: run Envoy under callgrind, count instructions
	out                 io.Writer
}

func main() {
	o := options{out: os.Stdout}
	configs := flag.String("configs", "bare,module,native,module-empty", "configurations, in round order: "+strings.Join(allConfigs, ", ")+"; NAME@K=V:K=V adds environment to a module configuration")
	flag.StringVar(&o.envoy, "envoy", os.Getenv("BTP_ENVOY"), "envoy binary (default $BTP_ENVOY)")
	flag.StringVar(&o.modules, "modules", os.Getenv("BTP_MODULE_DIR"), "directory holding libbtp_module.so (default $BTP_MODULE_DIR)")
	flag.StringVar(&o.btp, "btp", "build/out/btp", "the btp CLI, to render the policy")
	flag.StringVar(&o.baseline, "baseline", "", "directory holding another libbtp_module.so (e.g. built from main), measured as module-base in the same rounds")
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

// sample is one configuration's measurement in one round.
type sample struct {
	cpu, statCPU time.Duration // Envoy's CPU time per request: process clock, /proc/<pid>/stat
	p50, p99     time.Duration
	rss          int64
	rps          float64
}

func run(o options) error {
	if o.envoy == "" || o.modules == "" {
		return fmt.Errorf("need -envoy and -modules (or BTP_ENVOY and BTP_MODULE_DIR); `make bench-load` sets them")
	}
	if slices.ContainsFunc(o.configs, func(c string) bool { return strings.HasPrefix(c, ModuleBase) }) && o.baseline == "" {
		return fmt.Errorf("configuration %s needs -baseline DIR", ModuleBase)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.limit)
	defer cancel()

	backendPort := o.port()
	stopBackend, err := backend(fmt.Sprintf("127.0.0.1:%d", backendPort))
	if err != nil {
		return err
	}
	defer stopBackend()

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
		kind, vars, _ := strings.Cut(name, "@")
		p := ports{listen: o.port(), admin: o.port(), backend: backendPort}
		boot, err := bootstrap(o.btp, kind, p)
		if err != nil {
			return err
		}
		dir := o.modules
		if kind == ModuleBase {
			dir = o.baseline
		}
		godebug := "GODEBUG=cgocheck=0"
		if o.callgrind != "" {
			// Valgrind delivers the Go runtime's preemption signals
			// unreliably and then aborts Envoy now and then; the count is
			// of the same instructions without them.
			godebug += ",asyncpreemptoff=1"
		}
		env := []string{godebug, "ENVOY_DYNAMIC_MODULES_SEARCH_PATH=" + dir}
		if kind != Bare && kind != Native {
			env = append(env, o.env...)
			if vars != "" {
				env = append(env, strings.Split(vars, ":")...)
			}
		}
		baseID := o.baseID
		if baseID >= 0 {
			baseID += i
		}
		if envoys[i], err = startEnvoy(ctx, o.envoy, name, boot, p, baseID, env, o.callgrind); err != nil {
			return err
		}
		if err := checkPolicy(envoys[i]); err != nil {
			return err
		}
	}
	for _, e := range envoys {
		if _, err := load(ctx, e.addr(), o.warmup, o.conns, o.roundLimit); err != nil {
			return fmt.Errorf("%s: warm-up: %w", e.name, err)
		}
	}

	samples := make([][]sample, len(envoys))
	for r := 0; r < o.rounds; r++ {
		// Each round starts one configuration later, so none is always
		// measured right after the same other one.
		for j := range envoys {
			i := (j + r) % len(envoys)
			e := envoys[i]
			s, err := measure(ctx, e, o)
			if err != nil {
				return fmt.Errorf("%s: round %d: %w; envoy log:\n%s", e.name, r+1, err, e.log())
			}
			samples[i] = append(samples[i], s)
			fmt.Fprintf(os.Stderr, "round %d %-12s cpu %6.1f µs/req (stat %6.1f)  p50 %v  p99 %v  rss %d MiB  %.0f req/s\n",
				r+1, e.name, us(s.cpu), us(s.statCPU), s.p50, s.p99, s.rss>>20, s.rps)
		}
	}
	if o.callgrind != "" {
		return reportInstructions(o, envoys)
	}
	report(o, envoys, samples)
	return nil
}

// measure runs one round against e and reads Envoy's CPU time around it.
func measure(ctx context.Context, e *envoy, o options) (sample, error) {
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
	res, err := load(ctx, e.addr(), o.requests, o.conns, o.roundLimit)
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

// report prints the Markdown table BENCHMARKS.md keeps, and the command
// and machine it came from.
func report(o options, envoys []*envoy, samples [][]sample) {
	w := o.out
	load1, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "benchload: %d rounds x %d requests per configuration, %d connections, Envoy --concurrency 1\n", o.rounds, o.requests, o.conns)
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s, load average at the end %s\n", cpuModel(), runtime.NumCPU(), runtime.Version(), strings.Join(strings.Fields(string(load1))[:3], " "))
	if len(o.env) > 0 {
		fmt.Fprintf(w, "module environment: %s\n", strings.Join(o.env, " "))
	}
	bare := slices.IndexFunc(envoys, func(e *envoy) bool { return e.kind == Bare })
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| configuration | Envoy CPU µs/request, median (min–max) | over bare, median of rounds | p50 latency | p99 latency | RSS MiB | requests/s |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i, e := range envoys {
		s := samples[i]
		cpu := column(s, func(s sample) time.Duration { return s.cpu })
		over := "–"
		if bare >= 0 && i != bare {
			d := make([]time.Duration, len(s))
			for r := range s {
				d[r] = s[r].cpu - samples[bare][r].cpu
			}
			over = fmt.Sprintf("%+.1f µs", us(median(d)))
		}
		fmt.Fprintf(w, "| %s | %.1f (%.1f–%.1f) | %s | %.0f µs | %.0f µs | %.1f | %.0f |\n", e.name,
			us(median(cpu)), us(slices.Min(cpu)), us(slices.Max(cpu)), over,
			us(median(column(s, func(s sample) time.Duration { return s.p50 }))),
			us(median(column(s, func(s sample) time.Duration { return s.p99 }))),
			float64(median(column(s, func(s sample) int64 { return s.rss })))/(1<<20),
			median(column(s, func(s sample) float64 { return s.rps })))
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

// reportInstructions dumps each Envoy's callgrind counts (instrumented only
// during the rounds) and prints instructions per request.
func reportInstructions(o options, envoys []*envoy) error {
	w := o.out
	n := float64(o.rounds * o.requests)
	fmt.Fprintf(w, "benchload -callgrind: %d rounds x %d requests per configuration, %d connections, Envoy --concurrency 1 under valgrind --tool=callgrind\n\n", o.rounds, o.requests, o.conns)
	fmt.Fprintln(w, "| configuration | instructions/request | over bare |")
	fmt.Fprintln(w, "| --- | ---: | ---: |")
	var bare float64
	for _, e := range envoys {
		if err := e.callgrind("-d"); err != nil {
			return err
		}
		ir, err := callgrindTotal(filepath.Join(o.callgrind, "callgrind."+e.name+".out"))
		if err != nil {
			return err
		}
		per := float64(ir) / n
		over := "–"
		if e.kind == Bare {
			bare = per
		} else if bare > 0 {
			over = fmt.Sprintf("%+.0f", per-bare)
		}
		fmt.Fprintf(w, "| %s | %.0f | %s |\n", e.name, per, over)
	}
	return nil
}

// callgrindTotal sums the instruction totals of the dumps callgrind wrote
// for out (out itself at exit, out.N for each callgrind_control -d).
func callgrindTotal(out string) (int64, error) {
	files, _ := filepath.Glob(out + "*")
	var sum int64
	found := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "totals: "); ok {
				n, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%s: %q: %w", f, line, err)
				}
				sum, found = sum+n, true
			}
		}
	}
	if !found {
		return 0, fmt.Errorf("no callgrind totals in %s*", out)
	}
	return sum, nil
}
