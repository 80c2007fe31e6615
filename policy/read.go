package policy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Resources is every object read from the input, decoded into the upstream
// API types, in input order.
type Resources struct {
	GatewayClasses []*gwapiv1.GatewayClass
	Gateways       []*gwapiv1.Gateway
	HTTPRoutes     []*gwapiv1.HTTPRoute
	GRPCRoutes     []*gwapiv1.GRPCRoute
	TCPRoutes      []*gwapiv1.TCPRoute
	UDPRoutes      []*gwapiv1.UDPRoute
	TLSRoutes      []*gwapiv1.TLSRoute
	Policies       []*egv1a1.BackendTrafficPolicy
	Backends       []*egv1a1.Backend
	Services       []*corev1.Service
	ConfigMaps     []*corev1.ConfigMap
	EndpointSlices []*discoveryv1.EndpointSlice
	// Namespaces carry the labels targetSelectors[].namespaces.selector
	// matches; ReferenceGrants admit a policy's cross-namespace targets.
	Namespaces      []*corev1.Namespace
	ReferenceGrants []*gwapiv1.ReferenceGrant
	// Secrets hold the certificates of HTTPS listeners (kubernetes.io/tls).
	Secrets []*corev1.Secret
	// ListenerSets add listeners to the Gateways whose allowedListeners
	// admit them.
	ListenerSets []*gwapiv1.ListenerSet

	// files maps Kind/namespace/name to the file it came from, so errors
	// found after reading still name the file.
	files map[string]string
	// invalid maps Kind/namespace/name to the problems Read found in it, so
	// a bad policy is reported Invalid in its status.
	invalid map[string][]string
	// skipped counts, per kind, the documents of kinds btp does not read.
	skipped []*skippedKind
}

// File returns the file a resource was read from ("-" for stdin).
func (r *Resources) File(kind, namespace, name string) string {
	return r.files[resourceID(kind, namespace, name)]
}

func resourceID(kind, namespace, name string) string {
	return kind + "/" + namespace + "/" + name
}

// Read decodes every YAML (or JSON) document in paths. A path is a file, a
// directory (its *.yaml, *.yml and *.json files, recursively, in lexical
// order) or "-" for stdin. Decoding is strict: unknown or duplicate fields,
// wrong types, unserved versions and duplicate resources are errors. Kinds
// btp does not read are skipped and counted (see Skipped). Read returns
// what it could decode together with every error (an ErrorList).
func Read(paths []string, stdin io.Reader) (*Resources, error) {
	r := &Resources{files: map[string]string{}, invalid: map[string][]string{}}
	var list ErrorList
	if len(paths) == 0 {
		list = append(list, &Error{Msg: "no input: give at least one -f FILE, DIRECTORY or -"})
	}
	for _, p := range paths {
		if p == "-" {
			if stdin == nil {
				list = append(list, &Error{File: "-", Msg: "stdin is not available"})
				continue
			}
			r.readStream("-", stdin, &list)
			continue
		}
		files, err := inputFiles(p)
		if err != nil {
			list = append(list, &Error{File: p, Msg: err.Error()})
			continue
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				list = append(list, &Error{File: f, Msg: err.Error()})
				continue
			}
			r.readStream(f, fh, &list)
			fh.Close()
		}
	}
	return r, list.Err()
}

func inputFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, errors.Unwrap(err) // drop the path: the caller prints it
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	if err == nil && len(files) == 0 {
		err = errors.New("directory holds no *.yaml, *.yml or *.json file")
	}
	return files, err
}

func (r *Resources) readStream(file string, in io.Reader, list *ErrorList) {
	docs := utilyaml.NewYAMLReader(bufio.NewReader(in))
	for n := 1; ; n++ {
		doc, err := docs.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			*list = append(*list, &Error{File: file, Msg: fmt.Sprintf("document %d: %v", n, err)})
			return
		}
		r.readDocument(file, n, doc, list)
	}
}

var onlyComments = regexp.MustCompile(`^(\s*(#.*)?\n?)*$`)

func (r *Resources) readDocument(file string, n int, doc []byte, list *ErrorList) {
	if onlyComments.Match(doc) {
		return
	}
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		*list = append(*list, &Error{File: file, Msg: fmt.Sprintf("document %d: %v", n, err)})
		return
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := k8sjson.UnmarshalCaseSensitivePreserveInts(data, &head); err != nil {
		*list = append(*list, &Error{File: file, Msg: fmt.Sprintf("document %d: not a Kubernetes resource: %v", n, err)})
		return
	}
	where := fmt.Sprintf("document %d (%s %q)", n, head.Kind, head.Metadata.Name)
	if head.APIVersion == "" || head.Kind == "" {
		*list = append(*list, &Error{File: file, Resource: where, Msg: "apiVersion and kind are required"})
		return
	}
	key := head.APIVersion + "/" + head.Kind
	kind, known, err := lookupKind(head.APIVersion, head.Kind)
	if err != nil {
		*list = append(*list, &Error{File: file, Resource: where, Field: "apiVersion/kind", Msg: err.Error()})
		return
	}
	if !known {
		r.skip(file, head.APIVersion, head.Kind)
		return
	}
	before := len(*list)
	obj := kind.new()
	strict, err := k8sjson.UnmarshalStrict(data, obj)
	if obj.GetNamespace() == "" {
		obj.SetNamespace("default")
	}
	id := resourceID(head.Kind, obj.GetNamespace(), obj.GetName())
	e := errs{list: list, file: file, res: id}
	if obj.GetName() == "" {
		e.res = where
		e.add("metadata.name", "required")
	}
	for _, s := range strict {
		f, msg := strictField(s.Error())
		if msg == "unknown field" {
			allowed := fieldsAt(key, f)
			if strings.HasSuffix(key, "/BackendTrafficPolicy") && strings.Count(f, ".") == 1 && strings.HasPrefix(f, "spec.") {
				allowed = strings.Join(btpSpecFields, ", ") // envoy-btp's scope, not all of Envoy Gateway's
			}
			if allowed != "" {
				msg += ": allowed " + allowed
			}
		}
		e.add(f, "%s", msg)
	}
	var decodeErr *Error
	if err != nil {
		f, msg := decodeField(err)
		decodeErr = &Error{File: file, Resource: e.res, Field: f, Msg: msg}
	}
	// The schema runs even when decoding failed: it locates errors the Go
	// decoder reports without a path (e.g. a malformed quantity).
	mark := len(*list)
	defaulted, ok := validateObject(key, data, e)
	if decodeErr != nil && !coveredBy((*list)[mark:], decodeErr.Field) {
		*list = append(*list, decodeErr)
	}
	if err == nil && len(strict) == 0 {
		if ok {
			// Keep the defaulted form, as the API server would store it.
			fresh := kind.new()
			if err := k8sjson.UnmarshalCaseSensitivePreserveInts(defaulted, fresh); err == nil {
				if fresh.GetNamespace() == "" {
					fresh.SetNamespace("default")
				}
				obj = fresh
			}
		}
	}
	for _, err := range (*list)[before:] {
		r.invalid[id] = append(r.invalid[id], strings.TrimPrefix(err.Field+": "+err.Msg, ": "))
	}
	if prev, dup := r.files[id]; dup {
		e.add("metadata.name", "duplicate %s %q: already defined in %s", head.Kind, obj.GetNamespace()+"/"+obj.GetName(), prev)
		return
	}
	r.files[id] = file
	kind.add(r, obj)
}

// coveredBy reports whether the schema errors already explain a decode
// error on field (any error at all when the decoder gave no field). The Go
// decoder's path has no list indices (rules.limit.requests where the
// schema says rules[0].limit.requests), so they are compared without them.
func coveredBy(schemaErrs ErrorList, field string) bool {
	for _, e := range schemaErrs {
		if field == "" || listIndex.ReplaceAllString(e.Field, "") == field {
			return true
		}
	}
	return false
}

var listIndex = regexp.MustCompile(`\[[0-9]+\]`)

// validateObject applies the CRD defaults to the resource, then checks the
// CRD schema and (for BackendTrafficPolicy) the CRD's CEL rules and
// envoy-btp's scope. It returns the defaulted JSON.
func validateObject(key string, data []byte, e errs) ([]byte, bool) {
	var raw any
	if err := k8sjson.UnmarshalCaseSensitivePreserveInts(data, &raw); err != nil {
		e.add("", "%v", err)
		return nil, false
	}
	all, err := crdSchemas()
	if err != nil {
		e.add("", "internal: %v", err)
		return nil, false
	}
	s := all[key]
	applyDefaults(s, raw)
	validateSchema(s, raw, e)
	checkListTypes(s, raw, "", e)
	switch {
	case strings.HasSuffix(key, "/BackendTrafficPolicy"):
		checkRules(btpRules, raw, e)
		checkBTPScope(s, raw, e)
	case strings.HasSuffix(key, "/HTTPRoute"):
		checkRules(httpRouteRules, raw, e)
	case strings.HasSuffix(key, "/GRPCRoute"):
		checkRules(grpcRouteRules, raw, e)
	}
	out, err := json.Marshal(raw)
	if err != nil {
		e.add("", "%v", err)
		return nil, false
	}
	return out, true
}

var (
	strictRe = regexp.MustCompile(`^(unknown|duplicate) field "(.*)"$`)
	typeRe   = regexp.MustCompile(`^json: cannot unmarshal (.+) into Go struct field [^.]+\.(\S+) of type (.+)$`)
)

// strictField turns sigs.k8s.io/json strict errors into (field, message).
func strictField(msg string) (string, string) {
	if m := strictRe.FindStringSubmatch(msg); m != nil {
		if m[1] == "unknown" {
			return m[2], "unknown field"
		}
		return m[2], "duplicate field"
	}
	return "", msg
}

// decodeField turns a JSON type error into (field, message).
func decodeField(err error) (string, string) {
	if m := typeRe.FindStringSubmatch(err.Error()); m != nil {
		// Drop embedded Go struct names (spec.ClusterSettings.retry): they
		// are not part of the JSON path.
		var path []string
		for _, seg := range strings.Split(m[2], ".") {
			if seg != "" && !unicode.IsUpper(rune(seg[0])) {
				path = append(path, seg)
			}
		}
		return strings.Join(path, "."), fmt.Sprintf("wrong type: got %s, want %s", m[1], m[3])
	}
	return "", err.Error()
}
