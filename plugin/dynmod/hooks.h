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
  btp_later_override = 8, // only responses whose status is in the ranges below
};

enum {
  btp_max_ranges = 8,    // override status ranges C checks; more: Go sees every response
  btp_max_value = 64,    // bytes of one x-ratelimit-* value C adds
  btp_ratelimit_headers = 3,
  btp_max_counts = 16,   // counter increments one callback leaves for C; more: Go counts through C itself
  btp_max_views = 48,    // request headers C fetches for Go; more: Go asks per name
};

typedef struct btp_stream {
  uintptr_t config; // the filter config's reference (config.go: id << 1 | inert)
  uint32_t slot;    // the Go stream's slot (C hands them out, see hooks.c); 0: none yet
  uint32_t later;   // btp_later_* bits, set by Go after each callback
  int32_t depth;    // Go callbacks running for this stream (Envoy nests some hooks)
  bool free_slot;   // the stream ended inside a Go callback: free the slot after it
  // Set by Go with btp_later_override: the statuses an override may match.
  uint8_t nranges;
  uint16_t lo[btp_max_ranges], hi[btp_max_ranges];
  // Set by Go: the x-ratelimit-* values C adds to a response Go does not see.
  uint8_t nadd;
  uint8_t addlen[btp_ratelimit_headers];
  char add[btp_ratelimit_headers][btp_max_value];
  // Set by Go: counter increments C makes when the Go callback returns
  // (stream.go IncrementCounters), so counting needs no call from Go into C.
  uint8_t ncount;
  uint64_t count_id[btp_max_counts], count_n[btp_max_counts];
  // The request headers' views, fetched by C before it calls Go with the
  // request headers (Go would otherwise call into C for them first): nreq
  // is how many the map has (more than btp_max_views: req holds none).
  // Last, so a new stream zeroes only what is before it.
  int32_t nreq;
  envoy_dynamic_module_type_envoy_http_header req[btp_max_views];
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
