package policy

import (
	"errors"
	"io"
)

// Options tunes how input is read and resolved; the zero value is what
// Load uses.
type Options struct {
	// GatewayClasses are the gatewayClassName values whose Gateways btp
	// handles. Empty: every GatewayClass of the input whose controllerName
	// is Envoy Gateway's, or every Gateway when the input holds no
	// GatewayClass at all.
	GatewayClasses []string
	// Strict makes a kind btp does not read an error instead of a warning.
	Strict bool
}

// Load reads paths (files, directories, "-" for stdin) and resolves them into
// a Model. The Model is returned whenever the input could be read, even with
// errors, so `btp status` can still report Invalid policies; callers that
// render must refuse a Model that came with an error. The error, when not
// nil, is an ErrorList holding every problem found.
func Load(paths []string, stdin io.Reader) (*Model, error) {
	return Options{}.Load(paths, stdin)
}

// Load is the package-level Load with these options.
func (o Options) Load(paths []string, stdin io.Reader) (*Model, error) {
	res, err := Read(paths, stdin)
	var list ErrorList
	appendErr(&list, err)
	m, err := o.Resolve(res)
	appendErr(&list, err)
	if o.Strict {
		list = append(list, res.Skipped(true)...)
	} else {
		m.Warnings = append(res.Skipped(false), m.Warnings...)
	}
	list.sortStable()
	return m, list.Err()
}

func appendErr(list *ErrorList, err error) {
	if err == nil {
		return
	}
	var l ErrorList
	if errors.As(err, &l) {
		*list = append(*list, l...)
		return
	}
	*list = append(*list, &Error{Msg: err.Error()})
}
