package adapter

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDirectSetMatchesSDK holds plugin/golang/capi.go's direct header write
// to the SDK it is built with (the version go.mod pins): its C prototype
// compiles together with the SDK's api.h, and the SDK's header map types
// still start the way capi.go's mirrors of them do.
func TestDirectSetMatchesSDK(t *testing.T) {
	mod := envoyModuleDir(t)
	src := filepath.Join(t.TempDir(), "both.c")
	capi, _ := filepath.Abs("../capi.h")
	os.WriteFile(src, []byte("#include \"api.h\"\n#include \""+capi+"\"\n"), 0o644)
	cmd := exec.Command("gcc", "-fsyntax-only", "-Wall", "-Werror", "-I", filepath.Join(mod, "contrib/golang/common/go/api"), src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugin/golang/capi.h disagrees with the SDK's api.h: %v\n%s", err, out)
	}

	dir := filepath.Join(mod, "contrib/golang/filters/http/source/go/pkg/http")
	structs := map[string][]*ast.Field{}
	fset := token.NewFileSet()
	for _, f := range []string{"type.go", "filter.go"} {
		file, err := parser.ParseFile(fset, filepath.Join(dir, f), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					structs[ts.Name.Name] = st.Fields.List
				}
			}
			return true
		})
	}
	// first field of each type: "name type" ("" name: embedded)
	first := func(typ string, i int) string {
		fs := structs[typ]
		if len(fs) <= i {
			return "(missing)"
		}
		name := ""
		if len(fs[i].Names) == 1 {
			name = fs[i].Names[0].Name
		}
		return strings.TrimSpace(name + " " + exprString(fs[i].Type))
	}
	for _, want := range []struct {
		typ   string
		field int
		is    string
	}{
		{"requestHeaderMapImpl", 0, "requestOrResponseHeaderMapImpl"},
		{"responseHeaderMapImpl", 0, "requestOrResponseHeaderMapImpl"},
		{"requestOrResponseHeaderMapImpl", 0, "headerMapImpl"},
		{"headerMapImpl", 0, "state *processState"},
		{"processState", 0, "request *httpRequest"},
		{"processState", 1, "processState *C.processState"},
	} {
		if got := first(want.typ, want.field); got != want.is {
			t.Errorf("SDK %s field %d is %q; plugin/golang/capi.go assumes %q", want.typ, want.field, got, want.is)
		}
	}
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	}
	return "?"
}
