// The HTTP filter hooks Envoy calls for every request. Each call into Go
// costs a cgo transition, so the hooks that have nothing to do for a
// stream answer here: per-stream state is a small C struct, and Go tells
// it after each of its callbacks which later ones it still wants
// (btp_stream.later). A route without a policy (its config and the filter's
// defaults inert, see config.go) never enters Go; the response body and
// trailers never do either.
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_cgo_export.h"
#include "hooks.h"

// Slots of the Go streams table. C hands them out and takes them back, so a
// stream whose end needs no Go never enters Go to return its slot.
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t* free_slots;
static size_t nfree, capfree;
static uint32_t next_slot;

static uint32_t slot_alloc(void) {
  uint32_t id = 0;
  pthread_mutex_lock(&slots_mu);
  if (nfree > 0) {
    id = free_slots[--nfree];
  } else if (next_slot < UINT32_MAX) {
    id = ++next_slot;
  }
  pthread_mutex_unlock(&slots_mu);
  return id;
}

static void slot_free(uint32_t id) {
  pthread_mutex_lock(&slots_mu);
  if (nfree == capfree) {
    size_t cap = capfree ? 2 * capfree : 1024;
    uint32_t* p = realloc(free_slots, cap * sizeof *p);
    if (p == NULL) { // lose the slot rather than the process
      pthread_mutex_unlock(&slots_mu);
      return;
    }
    free_slots = p, capfree = cap;
  }
  free_slots[nfree++] = id;
  pthread_mutex_unlock(&slots_mu);
}

// end_stream gives the slot back, after the outermost Go callback if one
// is running (Envoy may complete a stream inside send_response).
static void end_stream(btp_stream* s) {
  if (s->depth > 0) {
    s->free_slot = true;
  } else if (s->slot != 0) {
    slot_free(s->slot);
    s->slot = 0;
  }
}

// flush_counts makes the counter increments Go left in s (Envoy's counters
// see them before the hook returns, as when Go made them itself).
static void flush_counts(envoy_dynamic_module_type_http_filter_envoy_ptr envoy, btp_stream* s) {
  for (uint8_t i = 0; i < s->ncount; i++) {
    envoy_dynamic_module_callback_http_filter_increment_counter(envoy, s->count_id[i], NULL, 0, s->count_n[i]);
  }
  s->ncount = 0;
}

// btp_tick_due says, at most once per btp_tick_ns on this thread, that Go
// should yield once (tick.go): the Go runtime's sysmon counts a P
// whose scheduler tick has not moved for 10 ms as running one goroutine too
// long, and a cgo callback on an Envoy thread never moves it, so without the
// yield sysmon took the worker's P after nearly every request (handoffp,
// an M woken to find nothing, the next entry getting a P back the slow way).
// Per thread: each Envoy worker holds its own P.
#define btp_tick_ns 5000000 // under the runtime's 10 ms (forcePreemptNS)
static __thread int64_t btp_tick_at;
static bool btp_tick_due(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  if (now - btp_tick_at < btp_tick_ns) {
    return false;
  }
  btp_tick_at = now;
  return true;
}

#define GO(s, call) ((s)->depth++, call)
#define GO_DONE(s) \
  do { if (--(s)->depth == 0 && (s)->free_slot) { (s)->free_slot = false; end_stream(s); } } while (0)

envoy_dynamic_module_type_http_filter_module_ptr
envoy_dynamic_module_on_http_filter_new(envoy_dynamic_module_type_http_filter_config_module_ptr config,
                                        envoy_dynamic_module_type_http_filter_envoy_ptr envoy) {
  (void)envoy;
  btp_stream* s = malloc(sizeof *s);
  if (s != NULL) {
    memset(s, 0, offsetof(btp_stream, req)); // req is written before it is read
    s->config = (uintptr_t)config;
  }
  return s;
}

envoy_dynamic_module_type_on_http_filter_request_headers_status
envoy_dynamic_module_on_http_filter_request_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module, bool end_of_stream) {
  btp_stream* s = (btp_stream*)module;
  uintptr_t route = (uintptr_t)envoy_dynamic_module_callback_get_most_specific_route_config(envoy);
#ifdef BTP_FLOOR
  (void)s, (void)end_of_stream;
  btpFloor(route, btp_tick_due()); // floor.go: benchload's one-crossing floor, enforcing nothing
  return envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue;
#endif
  if ((s->config & 1) && (route == 0 || (route & 1))) {
    return envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue; // inert: nothing to enforce
  }
  if (s->slot == 0 && (s->slot = slot_alloc()) == 0) {
    return envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue;
  }
  s->nreq = (int32_t)btp_get_headers(envoy, envoy_dynamic_module_type_http_header_type_RequestHeader, s->req,
                                     btp_max_views);
  envoy_dynamic_module_type_on_http_filter_request_headers_status st =
      GO(s, btpRequestHeaders(envoy, s, route, end_of_stream, btp_tick_due()));
  flush_counts(envoy, s);
  GO_DONE(s);
  return st;
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
  envoy_dynamic_module_type_on_http_filter_request_body_status st =
      GO(s, btpRequestBody(envoy, s, n, end_of_stream));
  flush_counts(envoy, s);
  GO_DONE(s);
  return st;
}

envoy_dynamic_module_type_on_http_filter_request_trailers_status
envoy_dynamic_module_on_http_filter_request_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module) {
  btp_stream* s = (btp_stream*)module;
  if (s->slot == 0 || !(s->later & btp_later_body)) {
    return envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue;
  }
  envoy_dynamic_module_type_on_http_filter_request_trailers_status st = GO(s, btpRequestTrailers(envoy, s));
  flush_counts(envoy, s);
  GO_DONE(s);
  return st;
}

// may_override reports whether the response's :status is one an override
// may match (Go decides whether one does).
static bool may_override(envoy_dynamic_module_type_http_filter_envoy_ptr envoy, btp_stream* s) {
  envoy_dynamic_module_type_envoy_buffer v = {NULL, 0};
  envoy_dynamic_module_type_module_buffer k = {":status", 7};
  if (!envoy_dynamic_module_callback_http_get_header(envoy, envoy_dynamic_module_type_http_header_type_ResponseHeader,
                                                     k, &v, 0, NULL)) {
    return true; // no status: let Go decide
  }
  int status = 0;
  for (size_t i = 0; i < v.length; i++) {
    if (v.ptr[i] < '0' || v.ptr[i] > '9' || i >= 3) {
      return true;
    }
    status = status * 10 + (v.ptr[i] - '0');
  }
  for (int i = 0; i < s->nranges; i++) {
    if (status >= s->lo[i] && status <= s->hi[i]) {
      return true;
    }
  }
  return false;
}

envoy_dynamic_module_type_on_http_filter_response_headers_status
envoy_dynamic_module_on_http_filter_response_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module, bool end_of_stream) {
  btp_stream* s = (btp_stream*)module;
  if (s->slot == 0) {
    return envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue;
  }
  if ((s->later & btp_later_response) || ((s->later & btp_later_override) && may_override(envoy, s))) {
    envoy_dynamic_module_type_on_http_filter_response_headers_status st =
        GO(s, btpResponseHeaders(envoy, s, end_of_stream));
    flush_counts(envoy, s);
    GO_DONE(s);
    return st;
  }
  static const char* const keys[btp_ratelimit_headers] = {"x-ratelimit-limit", "x-ratelimit-remaining",
                                                          "x-ratelimit-reset"};
  for (int i = 0; i < s->nadd && i < btp_ratelimit_headers; i++) {
    envoy_dynamic_module_type_module_buffer k = {keys[i], strlen(keys[i])};
    envoy_dynamic_module_type_module_buffer v = {s->add[i], s->addlen[i]};
    // Added, not set: Envoy's local_ratelimit filter adds them too.
    envoy_dynamic_module_callback_http_add_header(envoy, envoy_dynamic_module_type_http_header_type_ResponseHeader, k, v);
  }
  return envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue;
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
  if (s->later & btp_later_complete) {
    uint64_t attempts = 0;
    envoy_dynamic_module_callback_http_filter_get_attribute_int(
        envoy, envoy_dynamic_module_type_attribute_id_UpstreamRequestAttemptCount, &attempts);
    GO(s, btpStreamComplete(envoy, s, attempts));
    flush_counts(envoy, s);
    GO_DONE(s);
  }
  s->later = 0;
  end_stream(s);
}

void envoy_dynamic_module_on_http_filter_destroy(
    envoy_dynamic_module_type_http_filter_module_ptr module) {
  btp_stream* s = (btp_stream*)module;
  if (s->slot != 0) {
    if (s->later & btp_later_complete) {
      btpRelease(s); // a stream Envoy never completed: its timer and scheduler
    }
    s->depth = 0;
    end_stream(s);
  }
  free(s);
}

void envoy_dynamic_module_on_http_filter_scheduled(
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy,
    envoy_dynamic_module_type_http_filter_module_ptr module, uint64_t event_id) {
  btp_stream* s = (btp_stream*)module;
  if (s->slot != 0) {
    GO(s, btpScheduled(envoy, s, event_id));
    flush_counts(envoy, s);
    GO_DONE(s);
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
