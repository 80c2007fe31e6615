package e2e

import (
	"debug/elf"
	"path/filepath"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// The module exports every hook this host relies on: Envoy refuses a module
// without the filter hooks, and silently skips optional ones (per-route
// config, scheduler), which would turn per-route config and fault delays
// off without an error.
func TestModuleExportsTheHooksItNeeds(t *testing.T) {
	path := filepath.Join(harness.ModuleDir(t), harness.ModuleFile)
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			exported[s.Name] = true
		}
	}
	for _, hook := range []string{
		"envoy_dynamic_module_on_program_init",
		"envoy_dynamic_module_on_http_filter_config_new",
		"envoy_dynamic_module_on_http_filter_config_destroy",
		"envoy_dynamic_module_on_http_filter_per_route_config_new",
		"envoy_dynamic_module_on_http_filter_per_route_config_destroy",
		"envoy_dynamic_module_on_http_filter_new",
		"envoy_dynamic_module_on_http_filter_request_headers",
		"envoy_dynamic_module_on_http_filter_request_body",
		"envoy_dynamic_module_on_http_filter_request_trailers",
		"envoy_dynamic_module_on_http_filter_response_headers",
		"envoy_dynamic_module_on_http_filter_response_body",
		"envoy_dynamic_module_on_http_filter_response_trailers",
		"envoy_dynamic_module_on_http_filter_stream_complete",
		"envoy_dynamic_module_on_http_filter_destroy",
		"envoy_dynamic_module_on_http_filter_scheduled",
		// Required by Envoy 1.40 although the module uses none of them.
		"envoy_dynamic_module_on_http_filter_http_callout_done",
		"envoy_dynamic_module_on_http_filter_http_stream_headers",
		"envoy_dynamic_module_on_http_filter_http_stream_data",
		"envoy_dynamic_module_on_http_filter_http_stream_trailers",
		"envoy_dynamic_module_on_http_filter_http_stream_complete",
		"envoy_dynamic_module_on_http_filter_http_stream_reset",
		"envoy_dynamic_module_on_http_filter_config_scheduled",
		"envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark",
		"envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark",
	} {
		if !exported[hook] {
			t.Errorf("%s does not export %s", path, hook)
		}
	}
}
