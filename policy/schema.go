package policy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"

	envoygateway "github.com/envoyproxy/gateway"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	oaerrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"
)

// The OpenAPI schemas of the CRDs Envoy Gateway v1.9.1 ships (its own and
// the Gateway API ones it bundles), keyed by apiVersion/kind. Validating
// against them gives the same required/enum/range/pattern/length checks the
// Kubernetes API server applies before Envoy Gateway ever sees a resource.
// The CEL rules of those CRDs are checked in rules.go.
var (
	crdsOnce sync.Once
	crds     *crdSet
	crdsErr  error
)

// crdSet is what the pinned CRDs say: the schema of every version btp reads
// and, for every kind they define, the versions served.
type crdSet struct {
	schemas map[string]*spec.Schema // by apiVersion/Kind, for the kinds in kindTable
	served  map[string][]string     // by group/Kind, for every CRD
	groups  map[string]bool         // API groups the CRDs define
}

// kindsOf lists the kinds the CRDs define in group.
func (c *crdSet) kindsOf(group string) []string {
	var out []string
	for gk := range c.served {
		if g, k, _ := strings.Cut(gk, "/"); g == group {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func crdIndex() (*crdSet, error) {
	crdsOnce.Do(func() {
		crds, crdsErr = parseCRDs(envoygateway.GatewayCRDs)
	})
	return crds, crdsErr
}

func crdSchemas() (map[string]*spec.Schema, error) {
	c, err := crdIndex()
	if err != nil {
		return nil, err
	}
	return c.schemas, nil
}

func parseCRDs(data []byte) (*crdSet, error) {
	out := &crdSet{schemas: map[string]*spec.Schema{}, served: map[string][]string{}, groups: map[string]bool{}}
	read := map[string]bool{}
	for _, k := range kindTable {
		read[groupKind(k.group, k.name)] = true
	}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := docs.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var crd struct {
			Kind string `json:"kind"`
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Served bool   `json:"served"`
					Schema struct {
						OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &crd); err != nil {
			return nil, fmt.Errorf("embedded CRDs: %w", err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		gk := groupKind(crd.Spec.Group, crd.Spec.Names.Kind)
		out.groups[crd.Spec.Group] = true
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			out.served[gk] = append(out.served[gk], v.Name)
			key := crd.Spec.Group + "/" + v.Name + "/" + crd.Spec.Names.Kind
			if !read[gk] || len(v.Schema.OpenAPIV3Schema) == 0 {
				continue
			}
			s := &spec.Schema{}
			if err := json.Unmarshal(v.Schema.OpenAPIV3Schema, s); err != nil {
				return nil, fmt.Errorf("embedded CRD %s: %w", key, err)
			}
			out.schemas[key] = s
		}
	}
}

// validateSchema checks obj (the resource as decoded JSON) against the CRD
// schema of its kind; kinds without a CRD (core v1) are checked elsewhere.
func validateSchema(s *spec.Schema, obj any, e errs) {
	if s == nil {
		return
	}
	res := validate.NewSchemaValidator(s, nil, "", strfmt.Default).Validate(obj)
	var found []*oaerrors.Validation
	var others []error
	var flatten func(errs []error)
	flatten = func(errs []error) {
		for _, err := range errs {
			switch v := err.(type) {
			case *oaerrors.Validation:
				found = append(found, v)
			case *oaerrors.CompositeError:
				flatten(v.Errors)
			default:
				others = append(others, err)
			}
		}
	}
	flatten(res.Errors)
	sort.SliceStable(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	// "must validate all the schemas (allOf)" only repeats what the nested
	// errors on the same field already say.
	fields := map[string]int{}
	for _, v := range found {
		fields[v.Name]++
	}
	// A composite (allOf/anyOf/oneOf) failure names its field in quotes and
	// only repeats what the nested errors on that field already say.
	for _, err := range others {
		if m := compositeRe.FindStringSubmatch(err.Error()); m != nil {
			if fields[m[1]] > 0 {
				continue
			}
			e.add(m[1], "%s", strings.TrimSpace(m[2]))
			continue
		}
		e.add("", "%v", err)
	}
	for _, v := range found {
		field, msg := schemaMessage(v)
		e.add(field, "%s", msg)
	}
}

var typeFailRe = regexp.MustCompile(`^must be of type (\S+): "(.*)"$`)

var compositeRe = regexp.MustCompile(`^"([^"]*)" (must .*)$`)

// schemaMessage rewrites a schema violation as (field path, what is wrong
// and what is allowed), with the offending value quoted.
func schemaMessage(v *oaerrors.Validation) (string, string) {
	field := v.Name
	// The validator reports a missing property as the parent path plus the
	// property name in Name; both forms are already a full path.
	msg := v.Error()
	for _, p := range []string{field + " in body ", field + " "} {
		if strings.HasPrefix(msg, p) {
			msg = strings.TrimPrefix(msg, p)
			break
		}
	}
	switch v.Code() {
	case oaerrors.RequiredFailCode:
		return field, "required"
	case oaerrors.EnumFailCode:
		allowed := make([]string, len(v.Values))
		for i, a := range v.Values {
			allowed[i] = fmt.Sprint(a)
		}
		sort.Strings(allowed)
		return field, fmt.Sprintf("unsupported value %s: allowed %s", quote(v.Value), strings.Join(allowed, ", "))
	case oaerrors.InvalidTypeCode:
		if m := typeFailRe.FindStringSubmatch(msg); m != nil {
			return field, fmt.Sprintf("wrong type: got %s, want %s", m[2], m[1])
		}
		return field, msg
	}
	if v.Value != nil {
		return field, fmt.Sprintf("invalid value %s: %s", quote(v.Value), msg)
	}
	return field, msg
}

func quote(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// fieldsAt lists the property names the schema of key allows at the parent
// of path (a JSON field path such as spec.rules[0].matchs), for "unknown
// field" messages; "" when the kind has no schema or the path leaves it.
func fieldsAt(key, path string) string {
	all, err := crdSchemas()
	if err != nil {
		return ""
	}
	s := all[key]
	segs := strings.Split(path, ".")
	for _, seg := range segs[:len(segs)-1] {
		name, _, _ := strings.Cut(seg, "[")
		if s == nil {
			return ""
		}
		p, ok := s.Properties[name]
		if !ok {
			return ""
		}
		s = &p
		for strings.Contains(seg, "[") && s.Items != nil && s.Items.Schema != nil {
			s = s.Items.Schema
			seg = seg[strings.Index(seg, "]")+1:]
		}
	}
	if s == nil || len(s.Properties) == 0 {
		return ""
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
