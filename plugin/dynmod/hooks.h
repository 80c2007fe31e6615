// The module's per-stream state in C memory, and the C helpers the Go side
// calls. See hooks.c.
#ifndef BTP_DYNMOD_HOOKS_H
#define BTP_DYNMOD_HOOKS_H

#include "abi.h"

// The callbacks after request headers that the Go side still wants
// (filter.Later's bits).
enum {
  btp_later_body = 1,
  btp_later_response = 2,
  btp_later_complete = 4,
};

typedef struct btp_stream {
  uintptr_t config; // the filter config's id (Go's configs table)
  uint32_t slot;    // the Go stream's slot + 1; 0: none (nothing more to do in Go)
  uint32_t later;   // btp_later_* bits, set by Go after each callback
} btp_stream;

// btp_get_headers copies up to cap header views of one map into out and
// returns how many the map has (more than cap: out holds none).
size_t btp_get_headers(envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
                       envoy_dynamic_module_type_http_header_type type,
                       envoy_dynamic_module_type_envoy_http_header* out, size_t cap);

// btp_increment_counters adds n[i] to counter ids[i].
void btp_increment_counters(envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
                            const uint64_t* ids, const uint64_t* n, size_t count);

// Opaque ids stand where Envoy keeps a module pointer (configs).
static inline const void* btp_id_ptr(uintptr_t id) { return (const void*)id; }

#endif // BTP_DYNMOD_HOOKS_H
