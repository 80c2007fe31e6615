// Package e2e proves envoy-btp inside a real Envoy: the pinned stock Envoy
// (build/envoy-version) loads build/out/libbtp_module.so and serves real
// requests to Go backends on loopback. See docs/e2e.md.
package e2e

import (
	"os"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}
