// The HTTP filter hooks Envoy calls for every request. Each call into Go
// costs a cgo transition, so the hooks that have nothing to do for a
// stream answer here: per-stream state is a small C struct, and Go tells
// it after each of its callbacks which later ones it still wants
// (btp_stream.later). A route without a policy costs one call into Go per
// request (request headers); the response body and trailers never enter Go.
#include <stdlib.h>

#include "_cgo_export.h"
#include "hooks.h"

envoy_dynamic_module_type_http_filter_module_ptr
envoy_dynamic_module_on_http_filter_new(envoy_dynamic_module_type_http_filter_config_module_ptr config,
                                        envoy_dynamic_module_type_http_filter_envoy_ptr envoy) {
  (void)envoy;
  btp_stream* s = calloc(1, sizeof *s);
  if (s != NULL) {
    s->config = (uintptr_t)config;
  }
  return s;
}

envoy_dynamic_module_type_on_http_filter_request_headers_status
envoy_dynamic_module_on_http_filter_request_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module, bool end_of_stream) {
  uintptr_t route = (uintptr_t)envoy_dynamic_module_callback_get_most_specific_route_config(envoy);
  return btpRequestHeaders(envoy, (btp_stream*)module, route, end_of_stream);
}

envoy_dynamic_module_type_on_http_filter_request_body_status
envoy_dynamic_module_on_http_filter_request_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module, bool end_of_stream) {
  btp_stream* s = (btp_stream*)module;
  if (s->slot == 0 || !(s->later & btp_later_body)) {
    return envoy_dynamic_module_type_on_http_filter_request_body_status_Continue;
  }
  size_t n = envoy_dynamic_module_callback_http_get_body_size(
      envoy, envoy_dynamic_module_type_http_body_type_ReceivedRequestBody);
  return btpRequestBody(envoy, s, n, end_of_stream);
}

envoy_dynamic_module_type_on_http_filter_request_trailers_status
envoy_dynamic_module_on_http_filter_request_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module) {
  btp_stream* s = (btp_stream*)module;
  if (s->slot == 0 || !(s->later & btp_later_body)) {
    return envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue;
  }
  return btpRequestTrailers(envoy, s);
}

envoy_dynamic_module_type_on_http_filter_response_headers_status
envoy_dynamic_module_on_http_filter_response_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module, bool end_of_stream) {
  btp_stream* s = (btp_stream*)module;
  if (s->slot == 0 || !(s->later & btp_later_response)) {
    return envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue;
  }
  return btpResponseHeaders(envoy, s, end_of_stream);
}

envoy_dynamic_module_type_on_http_filter_response_body_status
envoy_dynamic_module_on_http_filter_response_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module, bool end_of_stream) {
  (void)envoy, (void)module, (void)end_of_stream;
  return envoy_dynamic_module_type_on_http_filter_response_body_status_Continue;
}

envoy_dynamic_module_type_on_http_filter_response_trailers_status
envoy_dynamic_module_on_http_filter_response_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module) {
  (void)envoy, (void)module;
  return envoy_dynamic_module_type_on_http_filter_response_trailers_status_Continue;
}

void envoy_dynamic_module_on_http_filter_stream_complete(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module) {
  btp_stream* s = (btp_stream*)module;
  if (s->slot == 0) {
    return;
  }
  uint64_t attempts = 0;
  if (s->later & btp_later_complete) {
    envoy_dynamic_module_callback_http_filter_get_attribute_int(
        envoy, envoy_dynamic_module_type_attribute_id_UpstreamRequestAttemptCount, &attempts);
  }
  btpStreamComplete(envoy, s, attempts);
}

void envoy_dynamic_module_on_http_filter_destroy(
    envoy_dynamic_module_type_http_filter_module_ptr module) {
  btp_stream* s = (btp_stream*)module;
  if (s->slot != 0) {
    btpRelease(s); // a stream Envoy never completed
  }
  free(s);
}

void envoy_dynamic_module_on_http_filter_scheduled(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module, uint64_t event_id) {
  btp_stream* s = (btp_stream*)module;
  if (s->slot != 0) {
    btpScheduled(envoy, s, event_id);
  }
}

size_t btp_get_headers(envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
                       envoy_dynamic_module_type_http_header_type type,
                       envoy_dynamic_module_type_envoy_http_header* out, size_t cap) {
  size_t n = envoy_dynamic_module_callback_http_get_headers_size(envoy, type);
  if (n > 0 && n <= cap && !envoy_dynamic_module_callback_http_get_headers(envoy, type, out)) {
    return 0;
  }
  return n;
}

void btp_increment_counters(envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
                            const uint64_t* ids, const uint64_t* n, size_t count) {
  for (size_t i = 0; i < count; i++) {
    envoy_dynamic_module_callback_http_filter_increment_counter(envoy, ids[i], NULL, 0, n[i]);
  }
}

// Required hooks for features the module does not use.

void envoy_dynamic_module_on_http_filter_http_callout_done(
    envoy_dynamic_module_type_http_filter_envoy_ptr e, envoy_dynamic_module_type_http_filter_module_ptr m,
    uint64_t id, envoy_dynamic_module_type_http_callout_result r, envoy_dynamic_module_type_envoy_http_header* h,
    size_t hn, envoy_dynamic_module_type_envoy_buffer* b, size_t bn) {
  (void)e, (void)m, (void)id, (void)r, (void)h, (void)hn, (void)b, (void)bn;
}

void envoy_dynamic_module_on_http_filter_http_stream_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr e, envoy_dynamic_module_type_http_filter_module_ptr m,
    uint64_t id, envoy_dynamic_module_type_envoy_http_header* h, size_t hn, bool end) {
  (void)e, (void)m, (void)id, (void)h, (void)hn, (void)end;
}

void envoy_dynamic_module_on_http_filter_http_stream_data(
    envoy_dynamic_module_type_http_filter_envoy_ptr e, envoy_dynamic_module_type_http_filter_module_ptr m,
    uint64_t id, const envoy_dynamic_module_type_envoy_buffer* d, size_t dn, bool end) {
  (void)e, (void)m, (void)id, (void)d, (void)dn, (void)end;
}

void envoy_dynamic_module_on_http_filter_http_stream_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr e, envoy_dynamic_module_type_http_filter_module_ptr m,
    uint64_t id, envoy_dynamic_module_type_envoy_http_header* t, size_t tn) {
  (void)e, (void)m, (void)id, (void)t, (void)tn;
}

void envoy_dynamic_module_on_http_filter_http_stream_complete(
    envoy_dynamic_module_type_http_filter_envoy_ptr e, envoy_dynamic_module_type_http_filter_module_ptr m,
    uint64_t id) {
  (void)e, (void)m, (void)id;
}

void envoy_dynamic_module_on_http_filter_http_stream_reset(
    envoy_dynamic_module_type_http_filter_envoy_ptr e, envoy_dynamic_module_type_http_filter_module_ptr m,
    uint64_t id, envoy_dynamic_module_type_http_stream_reset_reason r) {
  (void)e, (void)m, (void)id, (void)r;
}

void envoy_dynamic_module_on_http_filter_config_scheduled(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr e,
    envoy_dynamic_module_type_http_filter_config_module_ptr c, uint64_t id) {
  (void)e, (void)c, (void)id;
}

void envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    envoy_dynamic_module_type_http_filter_envoy_ptr e, envoy_dynamic_module_type_http_filter_module_ptr m) {
  (void)e, (void)m;
}

void envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    envoy_dynamic_module_type_http_filter_envoy_ptr e, envoy_dynamic_module_type_http_filter_module_ptr m) {
  (void)e, (void)m;
}
