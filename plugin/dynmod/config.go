package main

/*
#include "hooks.h"
*/
import "C"

import (
	"unsafe"

	cabi "github.com/envoyproxy/envoy/source/extensions/dynamic_modules/abi"

	"github.com/envoy-btp/envoy-btp/filter"
	"github.com/envoy-btp/envoy-btp/plugin/dynmod/adapter"
)

// configs holds every filter-level (Factory) and per-route config Envoy has
// loaded; Envoy keeps their ids as its module pointers, shifted left by one
// with the low bit set for an inert config (one that enforces nothing), so
// the C hook can pass a request on without entering Go when the route's
// config and the filter's defaults are both inert.
var configs table[configEntry]

type configEntry struct {
	factory *adapter.Factory // filter-level config
	route   *filter.Config   // per-route config
}

// envoy_dynamic_module_on_program_init tells Envoy which ABI the module was
// built against (the pinned SDK's header; see docs/dynmod.md).
//
//export envoy_dynamic_module_on_program_init
func envoy_dynamic_module_on_program_init() C.envoy_dynamic_module_type_abi_version_module_ptr {
	return (*C.char)(unsafe.Pointer(unsafe.StringData(cabi.AbiHeaderVersion)))
}

//export envoy_dynamic_module_on_http_filter_config_new
func envoy_dynamic_module_on_http_filter_config_new(
	envoy C.envoy_dynamic_module_type_http_filter_config_envoy_ptr,
	name, config C.envoy_dynamic_module_type_envoy_buffer,
) C.envoy_dynamic_module_type_http_filter_config_module_ptr {
	if n := goString(name); n != adapter.FilterName {
		logf(adapter.LevelError, "btp: filter_name "+n+" is unknown; this module serves \""+adapter.FilterName+"\"")
		return nil
	}
	f, err := adapter.NewFactory(configHandle{envoy}, goBytes(config))
	if err != nil {
		logf(adapter.LevelError, "Failed to load configuration: "+err.Error())
		return nil
	}
	id, e := configs.alloc()
	e.factory = f
	return C.envoy_dynamic_module_type_http_filter_config_module_ptr(C.btp_id_ptr(configRef(id, f.Inert())))
}

//export envoy_dynamic_module_on_http_filter_config_destroy
func envoy_dynamic_module_on_http_filter_config_destroy(p C.envoy_dynamic_module_type_http_filter_config_module_ptr) {
	releaseConfig(unsafe.Pointer(p))
}

//export envoy_dynamic_module_on_http_filter_per_route_config_new
func envoy_dynamic_module_on_http_filter_per_route_config_new(
	name, config C.envoy_dynamic_module_type_envoy_buffer,
) C.envoy_dynamic_module_type_http_filter_per_route_config_module_ptr {
	if n := goString(name); n != adapter.FilterName {
		logf(adapter.LevelError, "btp: per_route_config_name "+n+" is unknown; this module serves \""+adapter.FilterName+"\"")
		return nil
	}
	cfg, err := adapter.ParseRouteConfig(goBytes(config))
	if err != nil {
		logf(adapter.LevelError, "Failed to load per-route configuration: "+err.Error())
		return nil
	}
	id, e := configs.alloc()
	e.route = cfg
	return C.envoy_dynamic_module_type_http_filter_per_route_config_module_ptr(C.btp_id_ptr(configRef(id, cfg.Inert())))
}

//export envoy_dynamic_module_on_http_filter_per_route_config_destroy
func envoy_dynamic_module_on_http_filter_per_route_config_destroy(p C.envoy_dynamic_module_type_http_filter_per_route_config_module_ptr) {
	releaseConfig(unsafe.Pointer(p))
}

// configRef is the module pointer Envoy keeps for config id.
func configRef(id uint32, inert bool) C.uintptr_t {
	r := C.uintptr_t(id) << 1
	if inert {
		r |= 1
	}
	return r
}

// configAt is the entry a module pointer (configRef) names.
func configAt(ref C.uintptr_t) *configEntry { return configs.at(uint32(ref >> 1)) }

func releaseConfig(p unsafe.Pointer) {
	id := uint32(uintptr(p) >> 1)
	if id == 0 {
		return
	}
	*configs.at(id) = configEntry{}
	configs.release(id)
}

// configHandle defines counters on one filter config.
type configHandle struct {
	envoy C.envoy_dynamic_module_type_http_filter_config_envoy_ptr
}

func (h configHandle) DefineCounter(name string) (uint64, bool) {
	var id C.size_t
	res := C.envoy_dynamic_module_callback_http_filter_config_define_counter(h.envoy, moduleBuffer(name), nil, 0, &id)
	return uint64(id), res == C.envoy_dynamic_module_type_metrics_result_Success
}

// logf writes one line to Envoy's log (component dynamic_modules).
func logf(level adapter.Level, msg string) {
	l := C.envoy_dynamic_module_type_log_level(C.envoy_dynamic_module_type_log_level_Error)
	switch level {
	case adapter.LevelDebug:
		l = C.envoy_dynamic_module_type_log_level_Debug
	case adapter.LevelWarn:
		l = C.envoy_dynamic_module_type_log_level_Warn
	}
	if C.envoy_dynamic_module_callback_log_enabled(l) {
		C.envoy_dynamic_module_callback_log(l, moduleBuffer(msg))
	}
}

func init() { adapter.Log = logf }

func goString(b C.envoy_dynamic_module_type_envoy_buffer) string {
	return unsafe.String((*byte)(unsafe.Pointer(b.ptr)), int(b.length))
}

func goBytes(b C.envoy_dynamic_module_type_envoy_buffer) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(b.ptr)), int(b.length))
}

// moduleBuffer points Envoy at s for the duration of one call.
func moduleBuffer(s string) C.envoy_dynamic_module_type_module_buffer {
	return C.envoy_dynamic_module_type_module_buffer{ptr: (*C.char)(unsafe.Pointer(unsafe.StringData(s))), length: C.size_t(len(s))}
}
