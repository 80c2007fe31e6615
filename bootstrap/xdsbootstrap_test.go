package bootstrap

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// TestRenderXDSValidates: the xDS bootstrap, state of the world and delta,
// over an IP and a hostname, loads in a real Envoy.
func TestRenderXDSValidates(t *testing.T) {
	envoy := envoyBinary(t)
	mod := moduleDir(t)
	for _, o := range []XDSOptions{
		{ServerURL: "grpc://127.0.0.1:18000", NodeID: "a"},
		{ServerURL: "grpc://btp-serve.example:18000", NodeID: "b", Cluster: "edge", AdminPort: 19001, Delta: true},
	} {
		b, err := RenderXDS(o)
		if err != nil {
			t.Fatal(err)
		}
		envoyValidate(t, envoy, mod, b)
	}
}

func TestRenderXDS(t *testing.T) {
	b, err := RenderXDS(XDSOptions{ServerURL: "grpc://127.0.0.1:18000", Delta: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := b.GetNode(); n.Id != "envoy-btp" || n.Cluster != "envoy-btp" {
		t.Errorf("node: %v", n)
	}
	ads := b.GetDynamicResources().GetAdsConfig()
	if ads.ApiType != corev3.ApiConfigSource_DELTA_GRPC || ads.GrpcServices[0].GetEnvoyGrpc().GetClusterName() != XDSClusterName {
		t.Errorf("ads: %v", ads)
	}
	if bo := ads.GrpcServices[0].GetEnvoyGrpc().GetRetryPolicy().GetRetryBackOff(); bo.GetBaseInterval().AsDuration() != xdsBackoffBase || bo.GetMaxInterval().AsDuration() != xdsBackoffMax {
		t.Errorf("reconnect backoff: %v", bo)
	}
	if b.GetDynamicResources().GetLdsConfig().GetAds() == nil || b.GetDynamicResources().GetCdsConfig().GetAds() == nil {
		t.Errorf("lds/cds not over ADS")
	}
	if got := b.GetAdmin().GetAddress().GetSocketAddress(); got.Address != "127.0.0.1" || got.GetPortValue() != DefaultAdminPort {
		t.Errorf("admin: %v", got)
	}
	for _, bad := range []string{"", "127.0.0.1:18000", "http://127.0.0.1:18000", "grpc://127.0.0.1", "grpc://127.0.0.1:0", "grpc://127.0.0.1:18000/x"} {
		if _, err := RenderXDS(XDSOptions{ServerURL: bad}); err == nil || !strings.Contains(err.Error(), "allowed grpc://HOST:PORT") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
