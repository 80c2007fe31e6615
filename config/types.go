// Package config holds the filter's per-route policy config: the enforcement
// subset of BackendTrafficPolicy, in the spec's own shape and field names, so a
// person can write it by hand in envoy.yaml and the CLI can emit it as JSON.
//
// The types here are the wire form (what Envoy hands the filter). Durations are
// Gateway API duration strings ("1h30m", "250ms") and sizes are Kubernetes
// quantities ("10Mi"), exactly as users write them in the policy.
package config

// Policy is one route's enforcement config (or the filter-level defaults).
type Policy struct {
	RateLimit        *RateLimit         `json:"rateLimit,omitempty"`
	FaultInjection   *FaultInjection    `json:"faultInjection,omitempty"`
	ResponseOverride []ResponseOverride `json:"responseOverride,omitempty"`
	RequestBuffer    *RequestBuffer     `json:"requestBuffer,omitempty"`
	Retry            *Retry             `json:"retry,omitempty"`
	Timeout          *Timeout           `json:"timeout,omitempty"`

	// RetryBudget is refused (see compileBudget): it was the filter's own
	// retry budget; Envoy's cluster retry budget (circuitBreaker.retryBudget)
	// replaces it. Kept so old configs get a clear error, not a parse error.
	RetryBudget *RetryBudget `json:"retryBudget,omitempty"`

	// Debug is an envoy-btp extension for tests (see Debug).
	Debug *Debug `json:"debug,omitempty"`

	// Route names the route the config is for (btp render writes the xDS
	// route name; an envoy-btp extension). A config parsed again for the
	// same route, as Envoy does for every route on an RDS push, keeps the
	// rate-limit buckets of each rule that did not change. Without it every
	// parse starts with fresh buckets.
	Route string `json:"route,omitempty"`
}

// RateLimit mirrors spec.rateLimit. Only type Local is enforced by the filter;
// type Global is rendered as Envoy's ratelimit filter and never reaches here.
type RateLimit struct {
	Type  string          `json:"type,omitempty"`
	Local *LocalRateLimit `json:"local,omitempty"`
}

type LocalRateLimit struct {
	Rules []RateLimitRule `json:"rules"`
}

type RateLimitRule struct {
	ClientSelectors []RateLimitSelectCondition `json:"clientSelectors,omitempty"`
	Limit           RateLimitValue             `json:"limit"`
	Cost            *RateLimitCost             `json:"cost,omitempty"`
	// Shared makes the rule's bucket(s) one across every route that carries
	// the same rule (Envoy Gateway: shared across the Gateway's routes).
	Shared *bool `json:"shared,omitempty"`
	// ShadowMode counts the rule's limit but never refuses a request over it
	// (Envoy's descriptor shadow_mode).
	ShadowMode *bool `json:"shadowMode,omitempty"`
	// XRateLimitHeaders is Off or DraftVersion03 (default). As under Envoy
	// Gateway, only the rule without clientSelectors decides, for the
	// whole route: Off sends no x-ratelimit-* headers at all.
	XRateLimitHeaders *string `json:"xRateLimitHeaders,omitempty"`
}

type RateLimitSelectCondition struct {
	Headers     []HeaderMatch     `json:"headers,omitempty"`
	Methods     []MethodMatch     `json:"methods,omitempty"`
	Path        *PathMatch        `json:"path,omitempty"`
	SourceCIDR  *SourceMatch      `json:"sourceCIDR,omitempty"`
	QueryParams []QueryParamMatch `json:"queryParams,omitempty"`
}

// HeaderMatch.Type is Exact (default), RegularExpression or Distinct.
type HeaderMatch struct {
	Type   *string `json:"type,omitempty"`
	Name   string  `json:"name"`
	Value  *string `json:"value,omitempty"`
	Invert *bool   `json:"invert,omitempty"`
}

// QueryParamMatch.Type is Exact (default), RegularExpression or Distinct.
type QueryParamMatch struct {
	Type   *string `json:"type,omitempty"`
	Name   string  `json:"name"`
	Value  *string `json:"value,omitempty"`
	Invert *bool   `json:"invert,omitempty"`
}

type MethodMatch struct {
	Value  string `json:"value"`
	Invert *bool  `json:"invert,omitempty"`
}

// PathMatch.Type is Exact, PathPrefix (default) or RegularExpression.
type PathMatch struct {
	Type   *string `json:"type,omitempty"`
	Value  string  `json:"value"`
	Invert *bool   `json:"invert,omitempty"`
}

// SourceMatch.Type is Exact (default) or Distinct; Value is a CIDR.
type SourceMatch struct {
	Type   *string `json:"type,omitempty"`
	Value  string  `json:"value"`
	Invert *bool   `json:"invert,omitempty"`
}

// RateLimitValue.Unit is Second, Minute, Hour, Day, Week, Month or Year.
type RateLimitValue struct {
	Requests uint32 `json:"requests"`
	Unit     string `json:"unit"`
}

type RateLimitCost struct {
	Request  *RateLimitCostSpecifier `json:"request,omitempty"`
	Response *RateLimitCostSpecifier `json:"response,omitempty"`
}

// RateLimitCostSpecifier.From is Number (Metadata is not supported by the
// filter and is rejected at parse time).
type RateLimitCostSpecifier struct {
	From   string  `json:"from"`
	Number *uint64 `json:"number,omitempty"`
}

type FaultInjection struct {
	Delay *FaultInjectionDelay `json:"delay,omitempty"`
	Abort *FaultInjectionAbort `json:"abort,omitempty"`
}

type FaultInjectionDelay struct {
	FixedDelay *string  `json:"fixedDelay"`
	Percentage *float32 `json:"percentage,omitempty"`
}

type FaultInjectionAbort struct {
	HTTPStatus *int32   `json:"httpStatus,omitempty"`
	GrpcStatus *int32   `json:"grpcStatus,omitempty"`
	Percentage *float32 `json:"percentage,omitempty"`
}

type ResponseOverride struct {
	Match    CustomResponseMatch `json:"match"`
	Response *CustomResponse     `json:"response,omitempty"`
	// Source is All (default), Local (only Envoy's own local replies) or
	// Backend (only upstream responses).
	Source *string `json:"source,omitempty"`
}

// CustomResponseMatch: statusCodes (any of them) and responseHeaders (all
// of them); when both are set both must match.
type CustomResponseMatch struct {
	StatusCodes     []StatusCodeMatch             `json:"statusCodes,omitempty"`
	ResponseHeaders []ResponseOverrideHeaderMatch `json:"responseHeaders,omitempty"`
}

type ResponseOverrideHeaderMatch struct {
	Name  string      `json:"name"`
	Value StringMatch `json:"value"`
}

// StringMatch.Type is Exact (default), Prefix, Suffix or RegularExpression.
type StringMatch struct {
	Type  *string `json:"type,omitempty"`
	Value string  `json:"value"`
}

// StatusCodeMatch.Type is Value (default) or Range.
type StatusCodeMatch struct {
	Type  *string          `json:"type,omitempty"`
	Value *int             `json:"value,omitempty"`
	Range *StatusCodeRange `json:"range,omitempty"`
}

type StatusCodeRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

type CustomResponse struct {
	ContentType *string             `json:"contentType,omitempty"`
	Body        *CustomResponseBody `json:"body,omitempty"`
	StatusCode  *int                `json:"statusCode,omitempty"`
	// Header adds (add) or replaces (set) headers of the replacement; the
	// values are format strings like the body.
	Header *ResponseHeaderModifier `json:"header,omitempty"`
}

type ResponseHeaderModifier struct {
	Add []HeaderValue `json:"add,omitempty"`
	Set []HeaderValue `json:"set,omitempty"`
}

type HeaderValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CustomResponseBody.Type is Inline (default). The CLI resolves a ValueRef
// (ConfigMap) into Inline before the config reaches Envoy.
type CustomResponseBody struct {
	Type   *string `json:"type,omitempty"`
	Inline *string `json:"inline,omitempty"`
}

// RequestBuffer.Limit is a Kubernetes quantity ("10Mi", "4096").
type RequestBuffer struct {
	Limit string `json:"limit"`
}

type Retry struct {
	NumRetries *int32          `json:"numRetries,omitempty"`
	RetryOn    *RetryOn        `json:"retryOn,omitempty"`
	PerRetry   *PerRetryPolicy `json:"perRetry,omitempty"`
	// AllowNonIdempotent is an envoy-btp extension. Unset or true: the router
	// retries any method, as under Envoy Gateway (which has no such rule, so
	// btp render never sets it); false: the filter withholds retries from
	// POST/PATCH and other non-idempotent requests.
	AllowNonIdempotent *bool `json:"allowNonIdempotent,omitempty"`
}

type RetryOn struct {
	Triggers        []string `json:"triggers,omitempty"`
	HTTPStatusCodes []int    `json:"httpStatusCodes,omitempty"`
}

type PerRetryPolicy struct {
	Timeout *string        `json:"timeout,omitempty"`
	BackOff *BackOffPolicy `json:"backOff,omitempty"`
}

type BackOffPolicy struct {
	BaseInterval *string `json:"baseInterval,omitempty"`
	MaxInterval  *string `json:"maxInterval,omitempty"`
}

type Timeout struct {
	HTTP *HTTPTimeout `json:"http,omitempty"`
}

type HTTPTimeout struct {
	RequestTimeout *string `json:"requestTimeout,omitempty"`
}

// RetryBudget is the shape of the refused retryBudget field.
type RetryBudget struct {
	Percent             *float64 `json:"percent,omitempty"`
	MinRetryConcurrency *uint32  `json:"minRetryConcurrency,omitempty"`
}

// Debug holds test hooks that are off unless configured. It belongs in the
// filter-level config of a test bootstrap, never in production.
type Debug struct {
	// PanicHeader, when set, makes the engine panic on any request carrying
	// this header, so an end-to-end test can prove a panic answers that one
	// request with 500 and Envoy keeps serving.
	PanicHeader string `json:"panicHeader,omitempty"`
}
