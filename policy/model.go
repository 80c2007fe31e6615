package policy

import (
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Model is the translator's resolved input: every Gateway listener with the
// HTTPRoute and GRPCRoute rules attached to it, each rule carrying its backends and the
// BackendTrafficPolicy spec that takes effect there (after targetRef /
// targetSelector resolution, route-over-gateway precedence and mergeType).
// bootstrap renders a Model; it never looks at raw resources.
type Model struct {
	Gateways []*Gateway
	// Policies is every BackendTrafficPolicy read, with the status Envoy
	// Gateway would report for it (status.ancestors).
	Policies []*egv1a1.BackendTrafficPolicy
	// Warnings are what was read past without failing: kinds btp does not
	// read (one line per kind), Gateways of a class it does not handle.
	Warnings ErrorList
}

// Gateway is one Gateway API Gateway.
type Gateway struct {
	Name      types.NamespacedName
	Listeners []*Listener
}

// Listener is one Gateway listener and what attaches to it.
type Listener struct {
	Name     string
	Port     int32
	Hostname *string // listener hostname, nil for any
	// Protocol is HTTP, HTTPS, TLS, TCP or UDP.
	Protocol gwapiv1.ProtocolType
	// TLS is set on an HTTPS or TLS Terminate listener: the certificates
	// it terminates with.
	TLS *ListenerTLS
	// Routes in a stable order (creationTimestamp, then namespace/name), as
	// Envoy Gateway orders them.
	Routes []*Route
	// ListenerSet is set on a listener a ListenerSet contributed to its
	// parent Gateway; Name is then "<namespace>/<set>/<listener>", as
	// Envoy Gateway names it.
	ListenerSet *types.NamespacedName

	tls     *gwapiv1.ListenerTLSConfig // as declared: its mode picks the route kinds
	section string                     // the listener's own name, what sectionName matches
	allowed *gwapiv1.AllowedRoutes     // nil: Same namespace, every kind the protocol carries
	ns      string                     // namespace of the Gateway or ListenerSet declaring it
}

// Route kinds the renderer tells apart.
const (
	KindHTTPRoute = "HTTPRoute"
	KindGRPCRoute = "GRPCRoute"
	KindTCPRoute  = "TCPRoute"
	KindUDPRoute  = "UDPRoute"
	KindTLSRoute  = "TLSRoute"
)

// Route is one route (HTTPRoute, TCPRoute, ...) as attached to one listener.
type Route struct {
	Kind string // HTTPRoute, GRPCRoute, TCPRoute, UDPRoute or TLSRoute
	Name types.NamespacedName
	// Hostnames are the route's hostnames intersected with the listener's;
	// empty means "*".
	Hostnames []string
	Rules     []*Rule
}

// Rule is one route rule under one listener.
type Rule struct {
	Index int                    // position in spec.rules
	Name  *string                // spec.rules[].name, if set
	Spec  *gwapiv1.HTTPRouteRule // HTTPRoute rules; nil for GRPCRoute
	GRPC  *gwapiv1.GRPCRouteRule // GRPCRoute rules; nil for HTTPRoute
	// Backends are the rule's backendRefs, resolved to endpoints, in order.
	Backends []*Backend
	// Mirrors are the rule's RequestMirror filters' backendRefs, resolved,
	// keyed by the filter's index in spec.rules[].filters.
	Mirrors map[int]*Backend
	// Policy is the effective BackendTrafficPolicy spec for this rule on this
	// listener, nil when none applies. ConfigMap valueRefs in
	// responseOverride are already resolved into inline bodies.
	Policy *egv1a1.BackendTrafficPolicySpec
	// PolicySources names the policies that contributed to Policy, most
	// specific first (for comments, status and `btp explain`).
	PolicySources []types.NamespacedName
	// PolicyError is set when the policy in effect here could not be
	// translated (it is Invalid in its status; the text is the condition's
	// message). Policy is then nil and, as Envoy Gateway does
	// (applyTrafficFeatureToRoute), the rule answers every request with a
	// 500 direct response instead of reaching its backends.
	PolicyError string
	// GlobalRuleNames are Envoy Gateway's names (NS/POLICY/rule/I) of
	// Policy's rateLimit.global rules: after a merge each rule keeps its own
	// policy's name.
	GlobalRuleNames []string
}

// Backend is one backendRef resolved to endpoints.
type Backend struct {
	Kind   string // Service or Backend
	Name   types.NamespacedName
	Port   int32
	Weight int32 // backendRef weight (default 1)
	// AppProtocol is the Service port's appProtocol ("" when unset), which
	// tells Envoy Gateway the protocol to speak to it (h2c, grpc, ws, ...).
	AppProtocol string
	Endpoints   []Endpoint
	// serviceIP is a Service's cluster IP endpoint (nil for headless and
	// ExternalName Services and for Backends): what a rule whose policy
	// says routingType: Service routes to instead of Endpoints.
	serviceIP []Endpoint
}

// Endpoint is an address Envoy connects to. Hostname endpoints (Service
// without clusterIP, Backend fqdn, FQDN EndpointSlices) make the cluster
// resolve through DNS.
type Endpoint struct {
	Address  string
	Port     uint32
	Hostname bool
	// Draining is an EndpointSlice endpoint that is terminating or not
	// ready: Envoy Gateway keeps it with health status DRAINING.
	Draining bool
	// Zone is the EndpointSlice endpoint's zone, "" when unknown.
	Zone string
}
