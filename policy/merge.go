package policy

import (
	"encoding/json"
	"fmt"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	jsonpatch "github.com/evanphx/json-patch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// mergeSpec merges the route policy into the parent (gateway or listener)
// policy the way Envoy Gateway does: the route policy, as JSON, is a patch
// applied to the parent policy, either as a JSON merge patch
// (RFC 7386: objects merge, lists and scalars replace) or as a Kubernetes
// strategic merge patch driven by the API type's patch tags.
func mergeSpec(parent, route *egv1a1.BackendTrafficPolicy, t egv1a1.MergeType) (*egv1a1.BackendTrafficPolicySpec, error) {
	// Only the specs take part: status is being built while policies are
	// attached and must not leak into (or break) the merge.
	orig, err := json.Marshal(&egv1a1.BackendTrafficPolicy{Spec: parent.Spec})
	if err != nil {
		return nil, err
	}
	patch, err := json.Marshal(&egv1a1.BackendTrafficPolicy{Spec: route.Spec})
	if err != nil {
		return nil, err
	}
	var out []byte
	switch t {
	case egv1a1.StrategicMerge:
		out, err = strategicpatch.StrategicMergePatch(orig, patch, egv1a1.BackendTrafficPolicy{})
	case egv1a1.JSONMerge:
		out, err = jsonpatch.MergePatch(orig, patch)
	default:
		return nil, fmt.Errorf("unsupported merge type: %v", t)
	}
	if err != nil {
		return nil, err
	}
	var merged egv1a1.BackendTrafficPolicy
	if err := json.Unmarshal(out, &merged); err != nil {
		return nil, err
	}
	return &merged.Spec, nil
}
