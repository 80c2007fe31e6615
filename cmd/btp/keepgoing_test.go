package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// renderInput plus an HTTPRoute "other" whose policy fails translation.
const keepGoingInput = renderInput + `
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: other}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {value: /other}}]
    backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: app}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: broken}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: other}]
  retry: {perRetry: {backOff: {baseInterval: 2s, maxInterval: 1s}}}
`

func TestRenderRefusesInvalidPolicy(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.yaml"), filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(in, []byte(keepGoingInput), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := renderRun(t, "", "-f", in, "-o", out)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, w := range []string{
		in + ": BackendTrafficPolicy/default/broken: spec.retry.perRetry.backOff.maxInterval: maxInterval cannot be less than baseInterval",
		"nothing rendered: 1 problem(s) above; --keep-going renders the rest",
	} {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s written although the render was refused", out)
	}
}

func TestRenderKeepGoing(t *testing.T) {
	code, out, errs := renderRun(t, keepGoingInput, "-f", "-", "--host", "dynamic-module", "--keep-going")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	for _, w := range []string{
		"warning: -: BackendTrafficPolicy/default/broken: spec.retry.perRetry.backOff.maxInterval",
		"warning: --keep-going: HTTPRoute default/other rule 0 on default/gw/http: BackendTrafficPolicy default/broken is Invalid (Retry: maxInterval cannot be less than baseInterval.), the rule answers 500",
	} {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}
	// The broken policy's route answers 500; the valid one keeps its policy.
	i := strings.Index(out, "name: httproute/default/other/rule/0/match/0/*")
	if i < 0 || !strings.Contains(out[max(0, i-200):i], "direct_response:\n") || !strings.Contains(out[max(0, i-200):i], "status: 500") {
		t.Errorf("route other: no 500 direct response before its name:\n%s", out)
	}
	if !strings.Contains(out, `{"faultInjection":{"abort":{"httpStatus":503,"percentage":1}}}`) {
		t.Errorf("route app lost its valid policy:\n%s", out)
	}
}

// --keep-going isolates policies only: a broken route still stops the render.
func TestRenderKeepGoingRouteError(t *testing.T) {
	in := strings.Replace(keepGoingInput, "rules:\n  - matches: [{path: {value: /other}}]\n    backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: app}]",
		"rules:\n  - matches: [{path: {value: /other}}]\n    backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: missing}]", 1)
	code, out, errs := renderRun(t, in, "-f", "-", "--keep-going")
	if code != 1 || out != "" {
		t.Fatalf("exit %d with %d bytes out, want 1 and nothing", code, len(out))
	}
	if !strings.Contains(errs, `HTTPRoute/default/other: spec.rules[0].backendRefs[0].name: Backend "default/missing" not found`) ||
		!strings.Contains(errs, "even with --keep-going: 1 problem(s) above are not in a BackendTrafficPolicy") {
		t.Errorf("stderr:\n%s", errs)
	}
}

// btp status reports every policy, the valid and the Invalid one.
func TestStatusReportsEveryPolicy(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"status", "-f", "-"}, &stdio{in: strings.NewReader(keepGoingInput), out: &out, err: &errb})
	if code != 1 {
		t.Errorf("exit %d, want 1 (a policy is Invalid)", code)
	}
	docs := strings.Split(out.String(), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%d status documents, want 2:\n%s", len(docs), out.String())
	}
	for _, d := range docs {
		switch {
		case strings.Contains(d, "name: p1"):
			if !strings.Contains(d, "reason: Accepted") {
				t.Errorf("p1 not Accepted:\n%s", d)
			}
		case strings.Contains(d, "name: broken"):
			if !strings.Contains(d, "reason: Invalid") || !strings.Contains(d, "Retry: maxInterval cannot be less than baseInterval.") {
				t.Errorf("broken not Invalid with Envoy Gateway's message:\n%s", d)
			}
		default:
			t.Errorf("unexpected document:\n%s", d)
		}
	}
}

// A policy only the renderer refuses (Envoy's keepalive takes whole
// seconds): the same isolation under --keep-going.
func TestRenderKeepGoingRendererRefusal(t *testing.T) {
	in := strings.Replace(keepGoingInput, "  retry: {perRetry: {backOff: {baseInterval: 2s, maxInterval: 1s}}}", "  tcpKeepalive: {interval: 1500ms}", 1)
	code, _, errs := renderRun(t, in, "-f", "-")
	if code != 1 || !strings.Contains(errs, "BackendTrafficPolicy/default/broken: spec.tcpKeepalive.interval") || !strings.Contains(errs, "--keep-going renders the routes of the policies named above as a 500") {
		t.Errorf("default: exit %d, stderr:\n%s", code, errs)
	}
	code, out, errs := renderRun(t, in, "-f", "-", "--keep-going")
	if code != 0 || !strings.Contains(errs, "warning: --keep-going: BackendTrafficPolicy/default/broken: spec.tcpKeepalive.interval") || !strings.Contains(errs, "the rule answers 500") {
		t.Fatalf("--keep-going: exit %d, stderr:\n%s", code, errs)
	}
	i := strings.Index(out, "name: httproute/default/other/rule/0/match/0/*")
	if i < 0 || !strings.Contains(out[max(0, i-200):i], "status: 500") {
		t.Errorf("route other: no 500 direct response:\n%s", out)
	}
}
