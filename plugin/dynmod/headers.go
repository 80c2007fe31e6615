package main

/*
#include "hooks.h"

#cgo noescape btp_get_headers
#cgo nocallback btp_get_headers
#cgo noescape btp_increment_counters
#cgo nocallback btp_increment_counters
#cgo noescape envoy_dynamic_module_callback_http_get_header
#cgo nocallback envoy_dynamic_module_callback_http_get_header
#cgo noescape envoy_dynamic_module_callback_http_set_header
#cgo nocallback envoy_dynamic_module_callback_http_set_header
#cgo noescape envoy_dynamic_module_callback_http_send_response
#cgo noescape envoy_dynamic_module_callback_http_filter_get_attribute_string
#cgo nocallback envoy_dynamic_module_callback_http_filter_get_attribute_string
*/
import "C"

import "unsafe"

// headerMap is one of a stream's header maps. The first Get fetches every
// header's view in one call (Envoy iterates its map once) and later Gets
// scan that copy: one lookup through the ABI costs about as much as
// fetching a whole typical header map. The request map's views are in the
// C state, which the hook fills before it calls Go with the request
// headers, so that Go need not call into C for them. The views are valid
// during the callback only; n < 0 means not fetched.
type headerMap struct {
	envoy C.envoy_dynamic_module_type_http_filter_envoy_ptr
	kind  C.envoy_dynamic_module_type_http_header_type
	n     int          // headers in views, -1: not fetched, > len(views): too many, ask per name
	views *headerViews // the C state's (request) or own (response)
	own   headerViews
}

type headerViews = [maxViews]C.envoy_dynamic_module_type_envoy_http_header

// maxViews bounds the copy; a map with more headers is read per name.
const maxViews = C.btp_max_views

func (m *headerMap) Get(name string) (string, bool) {
	if m.n < 0 {
		// A plain pointer variable: given &m.views[0] of a Go array, cgo
		// would box a copy of the whole array for its pointer check.
		views := &m.views[0]
		m.n = int(C.btp_get_headers(m.envoy, m.kind, views, maxViews))
	}
	if m.n > maxViews {
		return m.getOne(name)
	}
	for i := range m.views[:m.n] {
		v := &m.views[i]
		if int(v.key_length) == len(name) && unsafe.String((*byte)(unsafe.Pointer(v.key_ptr)), len(name)) == name {
			return unsafe.String((*byte)(unsafe.Pointer(v.value_ptr)), int(v.value_length)), true
		}
	}
	return "", false
}

// getOne asks Envoy for one header.
func (m *headerMap) getOne(name string) (string, bool) {
	var b C.envoy_dynamic_module_type_envoy_buffer
	var count C.size_t
	if !C.envoy_dynamic_module_callback_http_get_header(m.envoy, m.kind, moduleBuffer(name), &b, 0, &count) || count == 0 {
		return "", false
	}
	return goString(b), true
}

// Set replaces a header. Envoy copies name and value; the fetched views
// may now be stale, so the next Get fetches again.
func (m *headerMap) Set(name, value string) {
	C.envoy_dynamic_module_callback_http_set_header(m.envoy, m.kind, moduleBuffer(name), moduleBuffer(value))
	m.n = -1
}
