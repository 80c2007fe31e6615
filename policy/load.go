package policy

import (
	"errors"
	"io"
)

// Load reads paths (files, directories, "-" for stdin) and resolves them into
// a Model. The Model is returned whenever the input could be read, even with
// errors, so `btp status` can still report Invalid policies; callers that
// render must refuse a Model that came with an error. The error, when not
// nil, is an ErrorList holding every problem found.
func Load(paths []string, stdin io.Reader) (*Model, error) {
	res, err := Read(paths, stdin)
	var list ErrorList
	appendErr(&list, err)
	m, err := Resolve(res)
	appendErr(&list, err)
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
