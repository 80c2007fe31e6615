package policy

import (
	"bytes"
	"encoding/json"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// applyDefaults fills obj (decoded JSON) with the schema's default values,
// as the Kubernetes API server does before validating and storing a custom
// resource, so Envoy Gateway (and we) always see e.g. retry.numRetries: 2.
// Like the API server, it first drops a null given for a field that is not
// nullable (`gzip: null` is no gzip field at all), so the default, if any,
// takes its place.
func applyDefaults(s *spec.Schema, obj any) {
	if s == nil {
		return
	}
	switch v := obj.(type) {
	case map[string]any:
		for name, child := range v {
			if child != nil {
				continue
			}
			prop, known := s.Properties[name]
			if !known && s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				prop, known = *s.AdditionalProperties.Schema, true
			}
			if known && !prop.Nullable {
				delete(v, name)
			}
		}
		for name, prop := range s.Properties {
			if _, set := v[name]; !set && prop.Default != nil {
				v[name] = deepCopyJSON(prop.Default)
			}
			if child, ok := v[name]; ok {
				p := prop
				applyDefaults(&p, child)
			}
		}
		if ap := s.AdditionalProperties; ap != nil && ap.Schema != nil {
			for name, child := range v {
				if _, known := s.Properties[name]; !known {
					applyDefaults(ap.Schema, child)
				}
			}
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for _, item := range v {
				applyDefaults(s.Items.Schema, item)
			}
		}
	}
}

// deepCopyJSON copies a default so objects never share (and mutate) the
// schema's value; numbers come back as int64 or float64 like decoded input.
func deepCopyJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return v
	}
	return normalizeNumbers(out)
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	}
	return v
}
