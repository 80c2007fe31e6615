// fakeenvoy: a stand-in for Envoy's golang HTTP filter at the C level, to
// drive the real libbtp.so through the SDK's own exported entry points and
// cgo callbacks, the way Envoy does. It implements only the C API the
// library calls (Envoy resolves these lazily, RTLD_LAZY, as Envoy does) and
// reads commands from stdin, one per line, printing what the library did:
//
//   config filter|route FILE    parse a serialized google.protobuf.Any -> "config ID"
//   merge PARENT CHILD          -> "merged ID"
//   header KEY VALUE            add a request header for the next request
//   remote ADDR                 the downstream remote address
//   routename NAME              the matched route's name (StreamInfo)
//   decode CONFIG_ID            DecodeHeaders (end of stream) -> "status N"
//   decodeopen CONFIG_ID        DecodeHeaders, a body follows  -> "status N"
//   data LEN END                DecodeData with a LEN-byte chunk -> "status N"
//   trailers                    DecodeTrailers (no trailer read) -> "status N"
//   encode STATUS               EncodeHeaders with :status    -> "status N"
//   complete ATTEMPTS           OnStreamComplete + OnDestroy
//   counters                    print the counters defined and their values
//   sleep MS                    let the library's goroutines run (fault delays)
//   repeat N ... end            run the lines between N times, printing nothing,
//                               then "bench N ns/req=X go->c=Y c->go=Z" (X: the
//                               process's CPU time, every thread, per request) and
//                               "calls NAME PER_REQ" for each API the library
//                               called (crossings per request; N >= 1)
//
// Side effects print as "continue N", "reply CODE grpc=G body=... hdr K=V",
// "set K=V" (request/response header writes), "copyheaders N" (the SDK
// copied the whole map into Go), "log L MSG".
// Built against the SDK's own api.h, so the structs match the library's.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"

// Every crossing is counted: calls the library makes into this C API
// (go->c, by name) and calls this program makes into the library (c->go).
enum { MAXAPI = 32 };
static const char* apiName[MAXAPI];
static long long apiCalls[MAXAPI], goCalls;
static int quiet; // inside repeat: print nothing
#define COUNT() do { static int id = -1; if (id < 0) { for (id = 0; apiName[id] && apiName[id] != __func__; id++) {} apiName[id] = __func__; } apiCalls[id]++; } while (0)
#define printf(...) (quiet ? 0 : printf(__VA_ARGS__)) // so no call may sit in its arguments
#define INTO_GO(call) (goCalls++, (call))

typedef struct { const char* p; long long n; } GoStr; // a Go string header

#define MAXH 64
typedef struct { char* k; char* v; } kv;
static kv reqh[MAXH], resph[MAXH];
static int nreq, nresp;
static char remote[128] = "192.0.2.1:1000";
static char routename[128] = "route";
static uint64_t attempts = 1;
static char* names[64];
static long long counts[64];
static int nmetrics;

static char* dupn(const void* p, int n) { char* s = malloc(n + 1); memcpy(s, p, n); s[n] = 0; return s; }

static kv* table(void* s, int** n) {
  processState* ps = s;
  if (ps->is_encoding) { *n = &nresp; return resph; }
  *n = &nreq; return reqh;
}

static void put(kv* t, int* n, const char* k, const char* v) {
  for (int i = 0; i < *n; i++) if (!strcmp(t[i].k, k)) { free(t[i].v); t[i].v = strdup(v); return; }
  t[*n].k = strdup(k); t[*n].v = strdup(v); (*n)++;
}

// --- the C API Envoy gives the library ------------------------------------
uint32_t envoyGoFilterLogLevel() { COUNT(); return 2; } // info
void envoyGoFilterLog(uint32_t level, void* m, int n) { COUNT();
  char* s = dupn(m, n);
  for (char* c = s; *c; c++) if (*c == '\n') *c = '|'; // one line per log
  printf("log %u %s\n", level, s); free(s);
}
void envoyGoConfigHttpFinalize(void* c) { COUNT();}
void envoyGoFilterHttpFinalize(void* r, int reason) { COUNT();}
CAPIStatus envoyGoFilterHttpDefineMetric(void* c, uint32_t type, void* name, int n, uint32_t* id) { COUNT();
  names[nmetrics] = dupn(name, n); *id = nmetrics++;
  return CAPIOK;
}
CAPIStatus envoyGoFilterHttpIncrementMetric(void* c, uint32_t id, int64_t off) { COUNT();
  counts[id] += off; return CAPIOK;
}
CAPIStatus envoyGoFilterHttpGetHeader(void* s, void* key, int klen, uint64_t* vd, int* vl) { COUNT();
  int* n; kv* t = table(s, &n);
  for (int i = 0; i < *n; i++)
    if ((int)strlen(t[i].k) == klen && !memcmp(t[i].k, key, klen)) {
      *vd = (uint64_t)t[i].v; *vl = strlen(t[i].v); return CAPIOK;
    }
  return CAPIOK; // absent: value untouched, as Envoy does
}
// CopyHeaders fills the Go-side copy the SDK keeps (its Get, and its Set
// before the first write): strs holds 2*num Go strings, buf the bytes.
CAPIStatus envoyGoFilterHttpCopyHeaders(void* s, void* strs, void* buf) { COUNT();
  int* n; kv* t = table(s, &n);
  GoStr* g = strs; char* b = buf;
  printf("copyheaders %d\n", *n);
  for (int i = 0; i < *n; i++) {
    size_t kl = strlen(t[i].k), vl = strlen(t[i].v);
    g[2 * i].p = b; g[2 * i].n = kl; memcpy(b, t[i].k, kl); b += kl;
    g[2 * i + 1].p = vl ? b : NULL; g[2 * i + 1].n = vl; memcpy(b, t[i].v, vl); b += vl;
  }
  return CAPIOK;
}

// size is what Envoy passes with a header callback: the number of headers
// and the bytes of all their keys and values.
static uint64_t size(kv* t, int n) {
  uint64_t bytes = 0;
  for (int i = 0; i < n; i++) bytes += strlen(t[i].k) + strlen(t[i].v);
  return bytes;
}

CAPIStatus envoyGoFilterHttpSetHeaderHelper(void* s, void* key, int klen, void* val, int vlen, headerAction a) { COUNT();
  int* n; kv* t = table(s, &n);
  char* k = dupn(key, klen); char* v = dupn(val, vlen);
  put(t, n, k, v);
  printf("set %s=%s\n", k, v); free(k); free(v);
  return CAPIOK;
}
CAPIStatus envoyGoFilterHttpContinue(void* s, int status) { COUNT(); printf("continue %d\n", status); return CAPIOK; }
CAPIStatus envoyGoFilterHttpSendLocalReply(void* s, int code, void* body, int blen, void* hdrs, int hn,
                                           long long grpc, void* det, int dlen) {
  COUNT();
  char* b = dupn(body, blen); char* d = dupn(det, dlen);
  for (char* c = b; *c; c++) if (*c == '\n') *c = '|';
  printf("reply %d grpc=%lld details=%s body=%s\n", code, grpc, d, b);
  GoStr* h = hdrs;
  for (int i = 0; i + 1 < hn; i += 2) printf("hdr %.*s=%.*s\n", (int)h[i].n, h[i].p, (int)h[i + 1].n, h[i + 1].p);
  free(b); free(d);
  return CAPIOK;
}
CAPIStatus envoyGoFilterHttpGetStringValue(void* r, int id, uint64_t* vd, int* vl) { COUNT();
  const char* v;
  switch (id) {
  case 1: v = routename; break; // ValueRouteName
  case 8: v = remote; break;    // ValueDownstreamRemoteAddress
  default: return CAPIValueNotFound;
  }
  *vd = (uint64_t)v; *vl = strlen(v); return CAPIOK;
}
CAPIStatus envoyGoFilterHttpGetIntegerValue(void* r, int id, uint64_t* v) { COUNT();
  if (id != 6) return CAPIValueNotFound; // ValueAttemptCount
  *v = attempts; return CAPIOK;
}

// --- the library's exports, as Envoy's dso.cc looks them up ---------------
static uint64_t (*newConfig)(httpConfig*);
static uint64_t (*mergeConfig)(uint64_t, uint64_t, uint64_t, uint64_t);
static uint64_t (*onHeader)(processState*, uint64_t, uint64_t, uint64_t);
static uint64_t (*onData)(processState*, uint64_t, uint64_t, uint64_t);
static void (*onComplete)(httpRequest*);
static void (*onDestroy)(httpRequest*, uint64_t);

static void* sym(void* h, const char* name) {
  void* f = dlsym(h, name);
  if (!f) { fprintf(stderr, "missing %s\n", name); exit(2); }
  return f;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  void* h = dlopen(argv[1], RTLD_LAZY);
  if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
  newConfig = sym(h, "envoyGoFilterNewHttpPluginConfig");
  mergeConfig = sym(h, "envoyGoFilterMergeHttpPluginConfig");
  onHeader = sym(h, "envoyGoFilterOnHttpHeader");
  onData = sym(h, "envoyGoFilterOnHttpData");
  onComplete = sym(h, "envoyGoFilterOnHttpStreamComplete");
  onDestroy = sym(h, "envoyGoFilterOnHttpDestroy");

  static char plugin[] = "btp";
  httpRequest* req = NULL;
  processState dec, enc;
  // The script is read whole, so repeat can replay its lines.
  enum { MAXLINES = 4096 };
  static char* lines[MAXLINES];
  int nlines = 0, pc = 0, loopStart = -1;
  long long loopLeft = 0, loopN = 0, goAt = 0, apiAt[MAXAPI];
  struct timespec t0, t1;
  char line[4096], a[2048], b[2048];
  while (nlines < MAXLINES && fgets(line, sizeof line, stdin)) lines[nlines++] = strdup(line);
  while (pc < nlines) {
    strcpy(line, lines[pc++]);
    line[strcspn(line, "\n")] = 0;
    if (sscanf(line, "repeat %lld", &loopN) == 1 && loopN > 0) {
      loopStart = pc; loopLeft = loopN; quiet = 1;
      goAt = goCalls; memcpy(apiAt, apiCalls, sizeof apiAt);
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    } else if (!strcmp(line, "end")) {
      if (--loopLeft > 0) { pc = loopStart; continue; }
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
      quiet = 0;
      long long ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec), cgo = 0;
      for (int i = 0; i < MAXAPI; i++) cgo += apiCalls[i] - apiAt[i];
      printf("bench %lld ns/req=%.1f go->c=%.2f c->go=%.2f\n", loopN, (double)ns / loopN, (double)cgo / loopN, (double)(goCalls - goAt) / loopN);
      for (int i = 0; i < MAXAPI && apiName[i]; i++)
        if (apiCalls[i] > apiAt[i]) printf("calls %s %.2f\n", apiName[i], (double)(apiCalls[i] - apiAt[i]) / loopN);
    } else if (sscanf(line, "config %2047s %2047s", a, b) == 2) {
      FILE* f = fopen(b, "rb");
      if (!f) { perror(b); return 2; }
      static char buf[65536];
      size_t n = fread(buf, 1, sizeof buf, f); fclose(f);
      httpConfig* c = calloc(1, sizeof *c); // kept: the library holds it for metrics
      c->plugin_name_ptr = (uint64_t)plugin; c->plugin_name_len = 3;
      c->config_ptr = (uint64_t)buf; c->config_len = n;
      c->is_route_config = !strcmp(a, "route"); c->concurrency = 1;
      { unsigned long long r = INTO_GO(newConfig(c)); printf("config %llu\n", r); }
    } else if (sscanf(line, "merge %2047s %2047s", a, b) == 2) {
      { unsigned long long r = INTO_GO(mergeConfig((uint64_t)plugin, 3, strtoull(a, 0, 10), strtoull(b, 0, 10))); printf("merged %llu\n", r); }
    } else if (sscanf(line, "header %2047s %2047[^\n]", a, b) == 2) {
      put(reqh, &nreq, a, b);
    } else if (sscanf(line, "remote %127s", remote) == 1) {
    } else if (sscanf(line, "routename %127s", routename) == 1) {
    } else if (sscanf(line, "decodeopen %2047s", a) == 1 ||
               (!strncmp(line, "decode ", 7) && sscanf(line, "decode %2047s", a) == 1)) {
      req = calloc(1, sizeof *req);
      req->plugin_name.data = plugin; req->plugin_name.len = 3;
      req->configId = strtoull(a, 0, 10); req->worker_id = 0;
      dec = (processState){req, 0, 1}; // decoding, ProcessingHeader
      int end = !strncmp(line, "decode ", 7);
      { unsigned long long r = INTO_GO(onHeader(&dec, end, nreq, size(reqh, nreq))); printf("status %llu\n", r); }
    } else if (sscanf(line, "data %2047s %2047s", a, b) == 2) {
      dec.state = 4; // ProcessingData; the library reads only the chunk's length here
      { unsigned long long r = INTO_GO(onData(&dec, atoi(b), 1, strtoull(a, 0, 10))); printf("status %llu\n", r); }
    } else if (!strcmp(line, "trailers")) {
      dec.state = 6; // ProcessingTrailer
      { unsigned long long r = INTO_GO(onHeader(&dec, 1, 0, 0)); printf("status %llu\n", r); }
    } else if (sscanf(line, "encode %2047s", a) == 1) {
      nresp = 0; put(resph, &nresp, ":status", a);
      enc = (processState){req, 1, 1}; // encoding, ProcessingHeader
      { unsigned long long r = INTO_GO(onHeader(&enc, 0, nresp, size(resph, nresp))); printf("status %llu\n", r); }
    } else if (sscanf(line, "complete %2047s", a) == 1) {
      attempts = strtoull(a, 0, 10);
      INTO_GO(onComplete(req)); INTO_GO(onDestroy(req, 0));
      nreq = 0; printf("done\n");
    } else if (sscanf(line, "sleep %2047s", a) == 1) {
      usleep(atoi(a) * 1000);
    } else if (!strcmp(line, "counters")) {
      for (int i = 0; i < nmetrics; i++) printf("counter %s %lld\n", names[i], counts[i]);
    } else if (line[0]) {
      fprintf(stderr, "bad command: %s\n", line); return 2;
    }
  }
  return 0;
}
