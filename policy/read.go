package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Resources is every object read from the input, decoded into the upstream
// API types, in input order.
type Resources struct {
	Gateways   []*gwapiv1.Gateway
	HTTPRoutes []*gwapiv1.HTTPRoute
	Policies   []*egv1a1.BackendTrafficPolicy
	Backends   []*egv1a1.Backend
	Services   []*corev1.Service
	ConfigMaps []*corev1.ConfigMap

	// files maps Kind/namespace/name to the file it came from, so errors
	// found after reading still name the file.
	files map[string]string
}

// File returns the file a resource was read from ("-" for stdin).
func (r *Resources) File(kind, namespace, name string) string {
	return r.files[resourceID(kind, namespace, name)]
}

func resourceID(kind, namespace, name string) string {
	return kind + "/" + namespace + "/" + name
}

// kinds is what Read accepts: apiVersion/kind -> a decoder into the typed
// list. Anything else is an error, never skipped.
var kinds = map[string]func(r *Resources, data []byte) (metav1.Object, []error, error){
	gwapiv1.GroupVersion.String() + "/Gateway": func(r *Resources, data []byte) (metav1.Object, []error, error) {
		o := &gwapiv1.Gateway{}
		strict, err := k8sjson.UnmarshalStrict(data, o)
		r.Gateways = append(r.Gateways, o)
		return o, strict, err
	},
	gwapiv1.GroupVersion.String() + "/HTTPRoute": func(r *Resources, data []byte) (metav1.Object, []error, error) {
		o := &gwapiv1.HTTPRoute{}
		strict, err := k8sjson.UnmarshalStrict(data, o)
		r.HTTPRoutes = append(r.HTTPRoutes, o)
		return o, strict, err
	},
	egv1a1.GroupVersion.String() + "/BackendTrafficPolicy": func(r *Resources, data []byte) (metav1.Object, []error, error) {
		o := &egv1a1.BackendTrafficPolicy{}
		strict, err := k8sjson.UnmarshalStrict(data, o)
		r.Policies = append(r.Policies, o)
		return o, strict, err
	},
	egv1a1.GroupVersion.String() + "/Backend": func(r *Resources, data []byte) (metav1.Object, []error, error) {
		o := &egv1a1.Backend{}
		strict, err := k8sjson.UnmarshalStrict(data, o)
		r.Backends = append(r.Backends, o)
		return o, strict, err
	},
	"v1/Service": func(r *Resources, data []byte) (metav1.Object, []error, error) {
		o := &corev1.Service{}
		strict, err := k8sjson.UnmarshalStrict(data, o)
		r.Services = append(r.Services, o)
		return o, strict, err
	},
	"v1/ConfigMap": func(r *Resources, data []byte) (metav1.Object, []error, error) {
		o := &corev1.ConfigMap{}
		strict, err := k8sjson.UnmarshalStrict(data, o)
		r.ConfigMaps = append(r.ConfigMaps, o)
		return o, strict, err
	},
}

func allowedKinds() string {
	s := make([]string, 0, len(kinds))
	for k := range kinds {
		s = append(s, k)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// Read decodes every YAML (or JSON) document in paths. A path is a file, a
// directory (its *.yaml, *.yml and *.json files, recursively, in lexical
// order) or "-" for stdin. Decoding is strict: unknown or duplicate fields,
// wrong types, unknown kinds and duplicate resources are errors. Read returns
// what it could decode together with every error (an ErrorList).
func Read(paths []string, stdin io.Reader) (*Resources, error) {
	r := &Resources{files: map[string]string{}}
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
	decode, ok := kinds[head.APIVersion+"/"+head.Kind]
	if !ok {
		*list = append(*list, &Error{File: file, Resource: where, Field: "apiVersion/kind",
			Msg: fmt.Sprintf("unsupported %q: allowed %s", head.APIVersion+"/"+head.Kind, allowedKinds())})
		return
	}
	obj, strict, err := decode(r, data)
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
		e.add(f, "%s", msg)
	}
	if err != nil {
		f, msg := decodeField(err)
		e.add(f, "%s", msg)
	}
	if prev, dup := r.files[id]; dup {
		e.add("metadata.name", "duplicate %s %q: already defined in %s", head.Kind, obj.GetNamespace()+"/"+obj.GetName(), prev)
		return
	}
	r.files[id] = file
}

var (
	strictRe = regexp.MustCompile(`^(unknown|duplicate) field "(.*)"$`)
	typeRe   = regexp.MustCompile(`^json: cannot unmarshal (.+) into Go struct field [^.]+\.(\S+) of type (.+)$`)
)

// strictField turns sigs.k8s.io/json strict errors into (field, message).
func strictField(msg string) (string, string) {
	if m := strictRe.FindStringSubmatch(msg); m != nil {
		if m[1] == "unknown" {
			return m[2], "unknown field: not part of the API type"
		}
		return m[2], "duplicate field"
	}
	return "", msg
}

// decodeField turns a JSON type error into (field, message).
func decodeField(err error) (string, string) {
	if m := typeRe.FindStringSubmatch(err.Error()); m != nil {
		return m[2], fmt.Sprintf("wrong type: got %s, want %s", m[1], m[3])
	}
	return "", err.Error()
}
