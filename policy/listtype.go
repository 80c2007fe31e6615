package policy

import (
	"fmt"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// checkListTypes enforces x-kubernetes-list-type map (entries unique by
// their keys) and set (unique values), which the API server checks for
// custom resources but an OpenAPI validator does not.
func checkListTypes(s *spec.Schema, obj any, path string, e errs) {
	if s == nil {
		return
	}
	switch v := obj.(type) {
	case map[string]any:
		for name, prop := range s.Properties {
			if child, ok := v[name]; ok {
				p := prop
				checkListTypes(&p, child, join(path, name), e)
			}
		}
	case []any:
		var item *spec.Schema
		if s.Items != nil {
			item = s.Items.Schema
		}
		listType, _ := s.Extensions.GetString("x-kubernetes-list-type")
		var mapKeys []string
		if raw, ok := s.Extensions["x-kubernetes-list-map-keys"].([]any); ok {
			for _, k := range raw {
				mapKeys = append(mapKeys, fmt.Sprint(k))
			}
		}
		seen := map[string]int{}
		for i, it := range v {
			at := fmt.Sprintf("%s[%d]", path, i)
			var key string
			switch listType {
			case "set":
				key = quote(it)
			case "map":
				parts := make([]string, len(mapKeys))
				for j, k := range mapKeys {
					parts[j] = fmt.Sprintf("%s %s", k, quote(get(it, k)))
				}
				key = strings.Join(parts, ", ")
			}
			if key != "" {
				if prev, dup := seen[key]; dup {
					e.add(at, "duplicate entry (%s): already at %s[%d], entries must be unique", key, path, prev)
				}
				seen[key] = i
			}
			checkListTypes(item, it, at, e)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
