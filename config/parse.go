package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Parse decodes one per-route (or filter-level) config from JSON, strictly:
// an unknown field or a field of the wrong type is an error naming its path.
// It only decodes; Compile validates and compiles.
func Parse(data []byte) (*Policy, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return &Policy{}, nil
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("config: invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("config: invalid JSON: more than one value")
	}
	if raw == nil {
		return nil, errors.New("config: null: want an object ({} for no config)")
	}
	if err := checkFields(raw, reflect.TypeOf(Policy{}), ""); err != nil {
		return nil, err
	}
	var p Policy
	if err := json.Unmarshal(data, &p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: cannot use JSON %s as %s", te.Field, te.Value, te.Type)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	return &p, nil
}

// checkFields walks decoded JSON against the Go type and rejects keys that
// no field carries, fields that are required but missing, and null.
// encoding/json alone matches keys case-insensitively, takes a missing or
// null field as its zero value (limit.requests: 0 refuses everything) and
// its unknown-field error has no path; the config is hand-written, so all
// of that matters.
//
// A field is required when its json tag has no omitempty, as in Envoy
// Gateway's API types (controller-gen's rule). No field is nullable: null
// is refused everywhere, also on optional fields, where it would otherwise
// silently mean the default.
func checkFields(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %s", orRoot(path), jsonKind(v))
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, ok := fields[k]
			if !ok {
				return fmt.Errorf("%s: unknown field %q: allowed %s", join(path, k), k, strings.Join(sortedKeys(fields), ", "))
			}
			if m[k] == nil {
				if f.required {
					return fmt.Errorf("%s: required, got null", join(path, k))
				}
				return fmt.Errorf("%s: null is not allowed: omit the field for its default", join(path, k))
			}
			if err := checkFields(m[k], f.typ, join(path, k)); err != nil {
				return err
			}
		}
		for _, k := range sortedKeys(fields) {
			if _, set := m[k]; !set && fields[k].required {
				return fmt.Errorf("%s: required", join(path, k))
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want a string, got %s", orRoot(path), jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want true or false, got %s", orRoot(path), jsonKind(v))
		}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: want a number, got %s", orRoot(path), jsonKind(v))
		}
		return checkNumber(n, t, path)
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want a list, got %s", orRoot(path), jsonKind(v))
		}
		for i, e := range a {
			ep := fmt.Sprintf("%s[%d]", path, i)
			if e == nil {
				return fmt.Errorf("%s: null is not allowed in a list", ep)
			}
			if err := checkFields(e, t.Elem(), ep); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNumber rejects numbers the field cannot hold, naming the path:
// fractions or exponents for integers, negatives for unsigned, values out
// of range.
func checkNumber(n json.Number, t reflect.Type, path string) error {
	var err error
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		_, err = strconv.ParseFloat(string(n), t.Bits())
		if err != nil {
			return fmt.Errorf("%s: %s is not a valid number", path, n)
		}
	case reflect.Uint32, reflect.Uint64:
		if _, err = strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			return fmt.Errorf("%s: %s is not an integer from 0 to %d", path, n, uint64(1)<<t.Bits()-1)
		}
	default:
		if _, err = strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			lim := int64(1)<<(t.Bits()-1) - 1
			return fmt.Errorf("%s: %s is not an integer from %d to %d", path, n, -lim-1, lim)
		}
	}
	return nil
}

type jsonField struct {
	typ      reflect.Type
	required bool // no omitempty
}

func jsonFields(t reflect.Type) map[string]jsonField {
	out := make(map[string]jsonField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{typ: f.Type, required: !strings.Contains(","+opts+",", ",omitempty,")}
	}
	return out
}

func sortedKeys(m map[string]jsonField) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orRoot(path string) string {
	if path == "" {
		return "config"
	}
	return path
}
