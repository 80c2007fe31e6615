package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// A short benchload run: every configuration starts, answers, and (module
// and native) enforces the policy before it is measured (run fails
// otherwise, see checkPolicy), and every measured request is answered 200.
// It asserts nothing about timings.
func TestBenchloadSmoke(t *testing.T) {
	var out bytes.Buffer
	o := options{
		envoy: harness.EnvoyBinary(t), modules: harness.ModuleDir(t), btp: harness.BtpBinary(t),
		configs:  []string{Bare, Module, Native, ModuleEmpty},
		requests: 200, warmup: 20, rounds: 1, conns: 2,
		roundLimit: time.Minute, limit: 5 * time.Minute,
		port:   func() int { return harness.FreePort(t) },
		baseID: -1,
		out:    &out,
	}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	for _, c := range o.configs {
		if !strings.Contains(out.String(), "| "+c+" |") {
			t.Errorf("report has no row for %s:\n%s", c, out.String())
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}
