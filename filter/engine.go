package filter

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/envoy-btp/envoy-btp/config"
	"google.golang.org/protobuf/types/known/anypb"
)

// Request is what the engine may ask a host about the request. Each method
// is called only when a configured rule needs it.
type Request interface {
	// Header returns the first value of a request header; name is lower case.
	Header(name string) (string, bool)
	Method() string
	// Path is the :path pseudo-header, query included.
	Path() string
	// SourceAddress is the downstream remote address, "ip:port" or "ip".
	SourceAddress() string
	// SetHeader replaces a request header (see package doc: copy value).
	SetHeader(name, value string)
}

// ResponseHeaders is the upstream response as the engine sees it.
type ResponseHeaders interface {
	Header(name string) (string, bool)
	// SetHeader replaces a response header (see package doc: copy value).
	SetHeader(name, value string)
}

// Kind is what an Action asks the host to do.
type Kind uint8

const (
	Continue Kind = iota
	StopAndBuffer
	SendReply
	Delay
)

func (k Kind) String() string {
	switch k {
	case Continue:
		return "Continue"
	case StopAndBuffer:
		return "StopAndBuffer"
	case SendReply:
		return "SendReply"
	case Delay:
		return "Delay"
	}
	return "Kind(?)"
}

// Action is the engine's decision for one callback.
type Action struct {
	Kind  Kind
	Delay time.Duration // Kind == Delay
	Reply *Reply        // Kind == SendReply; shared and read-only
}

// Reply is a local reply. It is read-only: replies built at config load are
// shared by all streams.
type Reply struct {
	// Status is the HTTP status of a plain reply (e.g. 429). For a
	// gRPC-shaped reply it is the HTTP equivalent of GRPCStatus; the wire
	// status is then 200 (see Wire).
	Status int
	// GRPCStatus is -1 for a plain reply. 0..16 means the request is gRPC
	// and the reply must be gRPC-shaped: HTTP 200, content-type
	// application/grpc, grpc-status GRPCStatus, grpc-message Body. A host
	// whose SDK shapes gRPC replies itself (golang: SendLocalReply's
	// grpcStatus argument) passes Status, Body, Headers and GRPCStatus;
	// others send Wire().
	GRPCStatus  int
	ContentType string // plain replies only; "" = none
	Body        string
	// Headers are extra response headers (x-ratelimit-*), for both shapes.
	Headers [][2]string
	// Details is a short reason for access logs (response code details).
	Details string
}

// Wire returns the reply exactly as it goes on the wire.
func (r *Reply) Wire() (status int, headers [][2]string, body string) {
	headers = make([][2]string, 0, len(r.Headers)+3)
	if r.GRPCStatus >= 0 {
		headers = append(headers,
			[2]string{"content-type", "application/grpc"},
			[2]string{"grpc-status", strconv.Itoa(r.GRPCStatus)},
			[2]string{"grpc-message", grpcMessage(r.Body)})
		return 200, append(headers, r.Headers...), ""
	}
	if r.ContentType != "" {
		headers = append(headers, [2]string{"content-type", r.ContentType})
	}
	return r.Status, append(headers, r.Headers...), r.Body
}

// Counter names one of the engine's stats.
type Counter uint8

const (
	RateLimitOK Counter = iota
	RateLimitOverLimit
	RateLimitShadow
	FaultDelays
	FaultAborts
	OverrideApplied
	BufferTooLarge
	RetryAllowed
	RetryNonIdempotent
	Panics
	RateLimitTableFull
	BufferInvalidLength
	NumCounters // number of counters; not a counter
)

var counterNames = [NumCounters]string{
	RateLimitOK:         "btp.ratelimit.ok",
	RateLimitOverLimit:  "btp.ratelimit.over_limit",
	RateLimitShadow:     "btp.ratelimit.shadow",
	FaultDelays:         "btp.fault.delays",
	FaultAborts:         "btp.fault.aborts",
	OverrideApplied:     "btp.override.applied",
	BufferTooLarge:      "btp.buffer.too_large",
	RetryAllowed:        "btp.retry.allowed",
	RetryNonIdempotent:  "btp.retry.non_idempotent",
	Panics:              "btp.panics",
	RateLimitTableFull:  "btp.ratelimit.table_full",
	BufferInvalidLength: "btp.buffer.invalid_length",
}

// Name is the stat name hosts define the counter under.
func (c Counter) Name() string {
	if c < NumCounters {
		return counterNames[c]
	}
	return "btp.unknown"
}

// Stats receives counter increments. Hosts back it with their SDK's
// metrics (define all NumCounters counters once, index by Counter).
// It must be safe for concurrent use.
type Stats interface {
	Inc(c Counter)
}

// Options are what a host (or a test) plugs into a Config.
type Options struct {
	Stats Stats // nil: counts are dropped
	// Log receives panics and other events worth an operator's attention.
	Log func(msg string)
	// Now is the clock for rate limits, in nanoseconds
	// (any monotonic origin). nil: the runtime's monotonic clock.
	Now func() int64
	// Rand draws the uniform random numbers for fault percentages.
	// nil: math/rand/v2 (safe for concurrent use).
	Rand func() uint32
	// DistinctKeys bounds the per-rule table of Distinct buckets.
	// 0: DefaultDistinctKeys.
	DistinctKeys int
	// HostAddsRateLimitHeaders says the host adds Stream.RateLimitHeaders
	// itself to the responses it does not pass to OnResponseHeaders, so
	// Later need not ask for every response.
	HostAddsRateLimitHeaders bool
}

// DefaultDistinctKeys is the per-rule cap on Distinct buckets.
const DefaultDistinctKeys = 65536

var clockBase = time.Now()

func monotonicNow() int64 { return int64(time.Since(clockBase)) }

func (o *Options) fill() {
	if o.Now == nil {
		o.Now = monotonicNow
	}
	if o.Rand == nil {
		o.Rand = rand.Uint32
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	if o.DistinctKeys <= 0 {
		o.DistinctKeys = DefaultDistinctKeys
	}
}

// Config is one compiled config with its runtime state (rate-limit
// buckets). Build it once at config load; share it across streams.
type Config struct {
	c    *config.Compiled
	opts Options

	limiter *limiter      // nil without rateLimit
	fault   *faultReplies // nil without faultInjection
	over    []overrideReply
	// overStatus is every status some override may match (a host's
	// pre-check); overAny: any status may.
	overStatus []config.StatusRange
	overAny    bool
	inert      bool // see Inert; decided once, hosts ask per request
	merged     mergeCache
}

// ParseJSON parses, validates and compiles JSON config (the bytes a
// dynamic module receives, or a StringValue's contents).
func ParseJSON(data []byte, opts Options) (*Config, error) {
	c, err := config.Load(data)
	if err != nil {
		return nil, err
	}
	return NewConfig(c, opts), nil
}

// ParseAny parses, validates and compiles config carried in an Any
// (TypedStruct, Struct, StringValue or BytesValue).
func ParseAny(a *anypb.Any, opts Options) (*Config, error) {
	p, err := config.ParseAny(a)
	if err != nil {
		return nil, err
	}
	c, err := config.Compile(p)
	if err != nil {
		return nil, err
	}
	return NewConfig(c, opts), nil
}

// NewConfig attaches runtime state to a compiled config.
func NewConfig(c *config.Compiled, opts Options) *Config {
	opts.fill()
	cfg := &Config{c: c, opts: opts}
	if c.RateLimit != nil {
		cfg.limiter = newLimiter(c.RateLimit, &cfg.opts, routeOf(c))
	}
	if c.Fault != nil {
		cfg.fault = newFaultReplies(c.Fault)
	}
	cfg.over = newOverrideReplies(c.Overrides)
	cfg.overStatus, cfg.overAny = overrideStatuses(cfg.over)
	cfg.inert = inertPolicy(c)
	return cfg
}

// Inert reports whether the config enforces nothing: its policy is empty.
// A host may then skip the engine for a request whose route config and
// filter-level defaults are both inert. Decided from the policy's JSON form
// so a feature added later cannot be skipped by mistake.
func (c *Config) Inert() bool { return c.inert }

func inertPolicy(c *config.Compiled) bool {
	b, err := json.Marshal(c.Source)
	return err == nil && string(b) == "{}"
}

// OverrideStatuses returns the statuses some responseOverride of c may
// match (any: every status may), so a host can pass only those responses
// to OnResponseHeaders when LaterOverride is all that is due.
func (c *Config) OverrideStatuses() (ranges []config.StatusRange, any bool) {
	return c.overStatus, c.overAny
}

// Compiled returns the config the engine enforces.
func (c *Config) Compiled() *config.Compiled { return c.c }

// Stats returns the Stats the config counts into (nil if none).
func (c *Config) Stats() Stats { return c.opts.Stats }

func (c *Config) inc(n Counter) {
	if c.opts.Stats != nil {
		c.opts.Stats.Inc(n)
	}
}

// grpcMessage percent-encodes a grpc-message value as the gRPC HTTP/2
// protocol requires (bytes outside printable ASCII, and '%').
func grpcMessage(msg string) string {
	plain := true
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; c < 0x20 || c > 0x7e || c == '%' {
			plain = false
			break
		}
	}
	if plain {
		return msg
	}
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(msg)+8)
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; c < 0x20 || c > 0x7e || c == '%' {
			out = append(out, '%', hex[c>>4], hex[c&15])
		} else {
			out = append(out, c)
		}
	}
	return string(out)
}
