package bootstrap

import (
	"fmt"

	"github.com/envoy-btp/envoy-btp/policy"
)

// scope says where in the input a rule's settings came from, so every render
// error names the policy, the route rule it applied to, and the field path.
type scope struct {
	resource string // BackendTrafficPolicy/ns/name (or HTTPRoute/ns/name)
	where    string // "httproute/ns/name rule 0"
	list     *policy.ErrorList
}

// fail records that field (a spec path such as "spec.retry.numRetries") holds
// value, which is wrong for the reason given in msg (saying what is allowed).
func (s *scope) fail(field string, value any, msg string) {
	m := msg
	switch v := value.(type) {
	case nil:
	case string:
		m = fmt.Sprintf("%q: %s", v, msg)
	default:
		m = fmt.Sprintf("%v: %s", v, msg)
	}
	if s.where != "" {
		m += " (on " + s.where + ")"
	}
	*s.list = append(*s.list, &policy.Error{Resource: s.resource, Field: field, Msg: m})
}

// failf is fail with a formatted message.
func (s *scope) failf(field string, value any, format string, args ...any) {
	s.fail(field, value, fmt.Sprintf(format, args...))
}
