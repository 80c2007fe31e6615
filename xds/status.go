package xds

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/envoy-btp/envoy-btp/policy"
)

// Status is what GET /status returns.
type Status struct {
	// Version is the served snapshot's ("0" before the first good load).
	Version string `json:"version"`
	// Error is the last refused edit's errors while the files are refused.
	Error    string                `json:"error"`
	Nodes    map[string]NodeStatus `json:"nodes"`
	Policies []PolicyStatus        `json:"policies"`
}

// PolicyStatus is one BackendTrafficPolicy's status.ancestors, as `btp
// status` prints them.
// Ancestors is JSON: conditions carry no lastTransitionTime (btp keeps no
// clock of status changes; `btp status` prints none either).
type PolicyStatus struct {
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Ancestors json.RawMessage `json:"ancestors"`
}

func policyStatus(p *egv1a1.BackendTrafficPolicy) PolicyStatus {
	out := PolicyStatus{Namespace: p.Namespace, Name: p.Name, Ancestors: json.RawMessage("[]")}
	doc, err := policy.StatusDocument(p)
	if err != nil {
		return out
	}
	if st, ok := doc["status"].(map[string]any); ok && st["ancestors"] != nil {
		if b, err := json.Marshal(st["ancestors"]); err == nil {
			out.Ancestors = b
		}
	}
	return out
}

// Policy is p as the BackendTrafficPolicy `btp status` prints.
func (p PolicyStatus) Policy() (*egv1a1.BackendTrafficPolicy, error) {
	out := &egv1a1.BackendTrafficPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}}
	var anc []gwapiv1.PolicyAncestorStatus
	if err := json.Unmarshal(p.Ancestors, &anc); err != nil {
		return nil, fmt.Errorf("policy %s/%s: ancestors: %w", p.Namespace, p.Name, err)
	}
	out.Status.Ancestors = anc
	return out, nil
}

// Status is the server's state now.
func (s *Server) Status() Status {
	s.mu.Lock()
	st := Status{Version: strconv.FormatUint(s.version, 10), Error: s.refused, Policies: []PolicyStatus{}}
	for _, p := range s.policies {
		st.Policies = append(st.Policies, policyStatus(p))
	}
	s.mu.Unlock()
	st.Nodes = s.nodes.status()
	return st
}

// StatusHandler serves GET /status as JSON.
func (s *Server) StatusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.Status())
	})
	return mux
}
