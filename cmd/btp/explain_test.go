package main

import (
	"bytes"
	"testing"
)

func TestExplainMergeOverride(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"explain", "-f", "../../policy/testdata/merge-override.in.yaml"}, &stdio{out: &out, err: &errb})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := `Gateway default/gw
  listener http port 80 hostname *
    HTTPRoute default/blog hostnames *
      rule 0: BackendTrafficPolicy default/blog
    HTTPRoute default/shop hostnames *
      rule 0 slow: BackendTrafficPolicy default/shop-slow
      rule 1 fast: BackendTrafficPolicy default/shop merged into default/gateway-defaults
Policies (oldest first; ` + "`btp status`" + ` has the full conditions)
  BackendTrafficPolicy default/gateway-defaults: Gateway default/gw Accepted, Merged, Overridden
  BackendTrafficPolicy default/shop: Gateway default/gw listener http Merged; Gateway default/gw Accepted, Overridden
  BackendTrafficPolicy default/shop-slow: Gateway default/gw Accepted, Warning
  BackendTrafficPolicy default/blog: Gateway default/gw Conflicted; Gateway default/gw listener http Accepted
`
	if out.String() != want {
		t.Errorf("explain output:\n%s\nwant:\n%s", out.String(), want)
	}
}
