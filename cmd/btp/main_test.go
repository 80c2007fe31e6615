package main

import (
	"bytes"
	"strings"
	"testing"
)

const validInput = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: eg
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p1}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  retry: {}
`

const secrets = `
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: b}
`

func TestRun(t *testing.T) {
	bad := validInput + "  loadBalancer: {type: Foo}\n  faultInjection: {}\n"
	for _, tc := range []struct {
		name       string
		args       []string
		stdin      string
		code       int
		out, err   string // substrings; "" means must be empty
		outNonZero bool
	}{
		{name: "no args", args: nil, code: 1, err: "usage: btp COMMAND"},
		{name: "help", args: []string{"--help"}, code: 0, out: "validate"},
		{name: "help command", args: []string{"help", "status"}, code: 0, out: "usage: btp status"},
		{name: "command help", args: []string{"validate", "--help"}, code: 0, out: "-f FILE"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 1, err: `unknown command "frobnicate": allowed`},
		{name: "bad flag", args: []string{"validate", "-x"}, code: 1, err: "flag provided but not defined: -x"},
		{name: "stray argument", args: []string{"validate", "file.yaml"}, code: 1, err: `unexpected argument "file.yaml"`},
		{name: "validate ok", args: []string{"validate", "-f", "-"}, stdin: validInput, code: 0},
		{name: "validate lists every error", args: []string{"validate", "-f", "-"}, stdin: bad, code: 1,
			err: "-: BackendTrafficPolicy/default/p1: spec.loadBalancer.type: unsupported value \"Foo\": allowed BackendUtilization, ConsistentHash, DynamicModule, LeastRequest, Random, RoundRobin\n-: BackendTrafficPolicy/default/p1: spec.faultInjection: Delay and abort faults are set at least one.\n"},
		{name: "validate refuses what render refuses", args: []string{"validate", "-f", "-"},
			stdin: strings.Replace(validInput, "retry: {}", "connection: {socketBufferLimit: 1Mi}", 1) +
				"---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: gw}]\n  rules: [{}]\n", code: 1,
			err: "spec.connection.socketBufferLimit"},
		{name: "status", args: []string{"status", "-f", "-"}, stdin: validInput, code: 0, out: "reason: Accepted"},
		{name: "serve help", args: []string{"serve", "--help"}, code: 0, out: "-xds-addr"},
		{name: "render help says how to stop Envoy", args: []string{"render", "--help"}, code: 0, out: "SIGTERM does not drain"},
		{name: "serve without input", args: []string{"serve"}, code: 1, err: "btp serve: no input: give -f FILE_OR_DIR"},
		{name: "serve refuses stdin", args: []string{"serve", "-f", "-"}, code: 1, err: "stdin cannot be watched"},
		{name: "render --xds", args: []string{"render", "--xds", "grpc://127.0.0.1:18000", "--node-id", "n1"}, code: 0, out: "id: n1"},
		{name: "render --xds takes no -f", args: []string{"render", "--xds", "grpc://127.0.0.1:18000", "-f", "-"}, code: 1, err: "--xds takes no -f"},
		{name: "render --xds bad URL", args: []string{"render", "--xds", "127.0.0.1:18000"}, code: 1, err: `xds server URL "127.0.0.1:18000": allowed grpc://HOST:PORT`},
		{name: "status --server unreachable", args: []string{"status", "--server", "http://127.0.0.1:1"}, code: 1, err: "btp status: --server"},
		{name: "status of invalid policy", args: []string{"status", "-f", "-"}, stdin: bad, code: 1,
			out: "reason: Invalid", err: "spec.loadBalancer.type"},
		{name: "explain", args: []string{"explain", "-f", "-"}, stdin: validInput, code: 0, out: "listener http port 80 hostname *"},
		{name: "unread kinds warn", args: []string{"validate", "-f", "-"}, stdin: validInput + secrets, code: 0,
			err: "warning: -: skipped 2 ServiceAccount resources (v1): btp does not read this kind\n"},
		{name: "unread kinds under --strict", args: []string{"status", "-f", "-", "--strict"}, stdin: validInput + secrets, code: 1,
			out: "reason: Accepted", err: "-: 2 ServiceAccount resources (v1): btp does not read this kind (--strict): allowed "},
		{name: "--gateway-class skips the rest", args: []string{"explain", "-f", "-", "--gateway-class", "other"}, stdin: validInput, code: 0, out: "attached nowhere",
			err: `warning: -: Gateway/default/gw: spec.gatewayClassName: "eg": skipped, as Envoy Gateway would ignore it: not a class btp was asked to handle (--gateway-class other); --gateway-class eg handles it`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &stdio{in: strings.NewReader(tc.stdin), out: &out, err: &errb})
			if code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			check := func(what, got, want string) {
				if want == "" && got != "" {
					t.Errorf("%s = %q, want empty", what, got)
				}
				if !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to contain %q", what, got, want)
				}
			}
			check("stdout", out.String(), tc.out)
			check("stderr", errb.String(), tc.err)
		})
	}
}
