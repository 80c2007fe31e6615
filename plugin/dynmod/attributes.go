package main

/*
#include "hooks.h"
*/
import "C"

// The Envoy attributes the response override reads (adapter.Handle):
// request.protocol for %PROTOCOL% and response.code_details for
// %RESPONSE_CODE_DETAILS% and its source Local/Backend. Asked only when an
// override needs them.

func (s *stream) Protocol() string {
	return s.attributeString(C.envoy_dynamic_module_type_attribute_id_RequestProtocol)
}

func (s *stream) ResponseCodeDetails() string {
	return s.attributeString(C.envoy_dynamic_module_type_attribute_id_ResponseCodeDetails)
}

func (s *stream) attributeString(id C.envoy_dynamic_module_type_attribute_id) string {
	var b C.envoy_dynamic_module_type_envoy_buffer
	if !C.envoy_dynamic_module_callback_http_filter_get_attribute_string(s.envoy, id, &b) {
		return ""
	}
	return goString(b)
}
