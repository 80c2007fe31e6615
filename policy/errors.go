package policy

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in the input, located as precisely as the input
// allows: the file, the resource (Kind/namespace/name), the field path.
type Error struct {
	File     string // "" when the problem is not tied to one file
	Resource string // Kind/namespace/name, "" before the resource is known
	Field    string // spec.loadBalancer.type, "" for the whole resource
	Msg      string // what is wrong and what is allowed
}

func (e *Error) Error() string {
	var b strings.Builder
	for _, s := range []string{e.File, e.Resource, e.Field} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one Load, in input order. Load
// collects them all so `btp validate` can report everything at once.
type ErrorList []*Error

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Err returns l as an error, or nil when l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// sortStable orders errors by file then by their position of discovery, so
// output is deterministic when files are read from a directory.
func (l ErrorList) sortStable() {
	sort.SliceStable(l, func(i, j int) bool { return l[i].File < l[j].File })
}

// errs accumulates errors for one resource.
type errs struct {
	list *ErrorList
	file string
	res  string
}

func (e errs) add(field, format string, args ...any) {
	*e.list = append(*e.list, &Error{File: e.file, Resource: e.res, Field: field, Msg: fmt.Sprintf(format, args...)})
}
