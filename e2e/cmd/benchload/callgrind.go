package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// reportInstructions dumps each Envoy's callgrind counts (instrumented only
// during the rounds) and prints instructions per request, then where the
// module's time goes: calls per request of the functions that cross between
// Envoy and the module and between C and Go, allocate, or wake threads.
func reportInstructions(o options, envoys []*envoy) error {
	w := o.out
	n := float64(o.rounds * o.requests)
	fmt.Fprintf(w, "benchload -callgrind: %d rounds x %d requests per configuration, %d connections, Envoy --concurrency 1 under valgrind --tool=callgrind\n\n", o.rounds, o.requests, o.conns)
	fmt.Fprintln(w, "| configuration | instructions/request | over bare |")
	fmt.Fprintln(w, "| --- | ---: | ---: |")
	var bare float64
	calls := make([]map[string]int64, len(envoys))
	for i, e := range envoys {
		if err := e.callgrind("-d"); err != nil {
			return err
		}
		out := filepath.Join(o.callgrind, "callgrind."+e.name+".out")
		ir, err := callgrindTotal(out)
		if err != nil {
			return err
		}
		if calls[i], err = callgrindCalls(out); err != nil {
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
	fmt.Fprintf(w, "\nCalls per request (callgrind's call counts, all threads):\n\n| calls per request |")
	for _, e := range envoys {
		fmt.Fprintf(w, " %s |", e.name)
	}
	fmt.Fprintf(w, "\n| --- |%s\n", strings.Repeat(" ---: |", len(envoys)))
	for _, g := range callGroups {
		fmt.Fprintf(w, "| %s |", g.label)
		for i := range envoys {
			fmt.Fprintf(w, " %.2f |", float64(g.count(calls[i]))/n)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\n(Callgrind loses track of the C stack where Go switches stacks, and counts a C function that Go runs inside twice, so a hook is the hooks' calls less the C→Go crossings; the crossings are runtime.cgocallbackg's calls, once per entry into Go. Under valgrind Envoy runs about 100× slower, which changes when the Go runtime's sysmon retakes a P: the wake-up rows are not the full-speed ones; bench-load's context switches are.)")
	return nil
}

// sumCalls adds the calls of the functions re matches.
func sumCalls(calls map[string]int64, re *regexp.Regexp) int64 {
	var sum int64
	for name, c := range calls {
		if re.MatchString(name) {
			sum += c
		}
	}
	return sum
}

var (
	hooksRe     = regexp.MustCompile(`^envoy_dynamic_module_on_http_filter_`)
	crossingsRe = regexp.MustCompile(`^runtime\.cgocallbackg$`)
)

// callGroups are the functions whose calls tell where a request's time
// goes between Envoy, the module's C and its Go.
var callGroups = []struct {
	label string
	count func(map[string]int64) int64
}{
	{"module hooks Envoy calls (envoy_dynamic_module_on_http_filter_*)", func(c map[string]int64) int64 {
		return sumCalls(c, hooksRe) - sumCalls(c, crossingsRe)
	}},
	{"C→Go crossings (runtime.cgocallbackg)", calls(crossingsRe)},
	{"Go→C calls (runtime.cgocall)", calls(regexp.MustCompile(`^runtime\.cgocall$`))},
	{"ABI callbacks into Envoy, all (envoy_dynamic_module_callback_*)", calls(regexp.MustCompile(`^envoy_dynamic_module_callback_`))},
	{"header reads (get_header, get_headers, get_headers_size)", calls(regexp.MustCompile(`^envoy_dynamic_module_callback_http_get_header`))},
	{"header writes (set_header, add_header, remove_header)", calls(regexp.MustCompile(`^envoy_dynamic_module_callback_http_(set|add|remove)_header`))},
	{"counter increments (increment_counter)", calls(regexp.MustCompile(`^envoy_dynamic_module_callback_http_filter_increment_counter`))},
	{"Go heap allocations (runtime.mallocgc)", calls(regexp.MustCompile(`^runtime\.mallocgc$`))},
	{"Go: P retaken from a thread in C (runtime.handoffp)", calls(regexp.MustCompile(`^runtime\.handoffp$`))},
	{"Go thread wake-ups (runtime.futexwakeup)", calls(regexp.MustCompile(`^runtime\.futexwakeup$`))},
}

func calls(re *regexp.Regexp) func(map[string]int64) int64 {
	return func(c map[string]int64) int64 { return sumCalls(c, re) }
}

// callgrindCalls sums, over the dumps callgrind wrote for out, how often
// each function was called (the calls= lines under each cfn=). Names are
// compressed per file: "(id) name" the first time, "(id)" after.
func callgrindCalls(out string) (map[string]int64, error) {
	files, _ := filepath.Glob(out + "*")
	sum := map[string]int64{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		names := map[string]string{}
		name := func(v string) string {
			id, rest, ok := strings.Cut(v, " ")
			if !strings.HasPrefix(v, "(") {
				return v
			}
			if ok {
				names[id] = rest
				return rest
			}
			return names[id]
		}
		callee := ""
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "fn="):
				name(line[3:]) // defines ids cfn= lines use
			case strings.HasPrefix(line, "cfn="):
				callee = name(line[4:])
			case strings.HasPrefix(line, "calls="):
				c, err := strconv.ParseInt(strings.Fields(line[6:])[0], 10, 64)
				if err != nil {
					fh.Close()
					return nil, fmt.Errorf("%s: %q: %w", f, line, err)
				}
				sum[callee] += c
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return sum, nil
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
