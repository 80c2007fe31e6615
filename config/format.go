package config

import (
	"fmt"
	"strconv"
	"strings"
)

// A responseOverride body is an Envoy format string under Envoy Gateway
// (custom_response's body_format text_format; its CustomResponse.Body docs
// point at Envoy's command operators), and so are the content type and the
// header values (Envoy's header parser formats response_headers_to_add).
// envoy-btp supports the operators a response override can answer from what
// the filter knows; any other operator is refused at parse time with the
// field path, as Envoy refuses a format it cannot parse.
//
// Supported, with Envoy's meaning:
//
//	%RESPONSE_CODE%                  the status of the response being replaced
//	                                 (for a local reply its HTTP status, also
//	                                 when it goes out gRPC-shaped as 200)
//	%RESPONSE_CODE_DETAILS%          via_upstream, or the local reply's reason
//	%REQ(X)%, %REQ(X?Y)%             request header X (else Y)
//	%RESP(X)%, %RESP(X?Y)%           header X of the response being replaced
//	%PROTOCOL%                       HTTP/1.0, HTTP/1.1, HTTP/2 or HTTP/3
//	%DOWNSTREAM_REMOTE_ADDRESS%      the client's ip:port
//	%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%
//	%%                               a literal %
//
// An optional :N after the header operators truncates the value to N
// bytes. A missing value formats as "-", as in Envoy's text formats.
var formatOperators = []string{
	"RESPONSE_CODE", "RESPONSE_CODE_DETAILS", "REQ(X)", "RESP(X)", "PROTOCOL",
	"DOWNSTREAM_REMOTE_ADDRESS", "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
}

// FormatKind is what one part of a Format stands for.
type FormatKind uint8

const (
	FormatText FormatKind = iota
	FormatResponseCode
	FormatResponseCodeDetails
	FormatRequestHeader
	FormatResponseHeader
	FormatProtocol
	FormatRemoteAddress
	FormatRemoteAddressWithoutPort
)

// FormatPart is literal text or one operator.
type FormatPart struct {
	Kind FormatKind
	// Text is the literal (FormatText) or the lower-case header name.
	Text string
	Alt  string // REQ(X?Y) / RESP(X?Y): Y, lower case
	Max  int    // :N truncation; 0 = none
}

// Format is a compiled format string. Without operators it is Literal and
// Parts is nil, so formatting it costs nothing.
type Format struct {
	Literal string
	Parts   []FormatPart
}

// Static reports whether the format has no operators.
func (f *Format) Static() bool { return f.Parts == nil }

// Needs reports whether any part is of kind k.
func (f *Format) Needs(k FormatKind) bool {
	for i := range f.Parts {
		if f.Parts[i].Kind == k {
			return true
		}
	}
	return false
}

// ParseFormat compiles s; path names the field in errors.
func ParseFormat(s, path string) (Format, error) {
	f, err := parseFormat(s)
	if err != nil {
		return Format{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ValidateFormat reports what is wrong with format string s (the renderer
// names the field itself).
func ValidateFormat(s string) error {
	_, err := parseFormat(s)
	return err
}

func parseFormat(s string) (Format, error) {
	if !strings.Contains(s, "%") {
		return Format{Literal: s}, nil
	}
	var parts []FormatPart
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			parts = append(parts, FormatPart{Kind: FormatText, Text: text.String()})
			text.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			text.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			text.WriteByte('%')
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '%')
		if end < 0 {
			return Format{}, fmt.Errorf("%q: unterminated command operator at byte %d (write %%%% for a literal %%)", s, i)
		}
		op := s[i+1 : i+1+end]
		p, err := parseOperator(op)
		if err != nil {
			return Format{}, fmt.Errorf("%q: %%%s%%: %v; supported: %s, and %%%% for a literal %%", s, op, err, strings.Join(wrapOps(), ", "))
		}
		flush()
		parts = append(parts, p)
		i += end + 1
	}
	flush()
	if len(parts) == 1 && parts[0].Kind == FormatText {
		return Format{Literal: parts[0].Text}, nil // only %% escapes
	}
	if parts == nil {
		return Format{Literal: ""}, nil
	}
	return Format{Parts: parts}, nil
}

func wrapOps() []string {
	out := make([]string, len(formatOperators))
	for i, o := range formatOperators {
		out[i] = "%" + o + "%"
	}
	return out
}

func parseOperator(op string) (FormatPart, error) {
	switch op {
	case "RESPONSE_CODE":
		return FormatPart{Kind: FormatResponseCode}, nil
	case "RESPONSE_CODE_DETAILS":
		return FormatPart{Kind: FormatResponseCodeDetails}, nil
	case "PROTOCOL":
		return FormatPart{Kind: FormatProtocol}, nil
	case "DOWNSTREAM_REMOTE_ADDRESS":
		return FormatPart{Kind: FormatRemoteAddress}, nil
	case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
		return FormatPart{Kind: FormatRemoteAddressWithoutPort}, nil
	}
	var kind FormatKind
	var rest string
	switch {
	case strings.HasPrefix(op, "REQ("):
		kind, rest = FormatRequestHeader, op[len("REQ("):]
	case strings.HasPrefix(op, "RESP("):
		kind, rest = FormatResponseHeader, op[len("RESP("):]
	default:
		return FormatPart{}, fmt.Errorf("not supported by envoy-btp")
	}
	close := strings.IndexByte(rest, ')')
	if close < 0 {
		return FormatPart{}, fmt.Errorf("missing )")
	}
	arg, tail := rest[:close], rest[close+1:]
	p := FormatPart{Kind: kind}
	name, alt, hasAlt := strings.Cut(arg, "?")
	if name == "" || (hasAlt && alt == "") || strings.ContainsAny(arg, " \t") {
		return FormatPart{}, fmt.Errorf("needs a header name (X or X?Y)")
	}
	p.Text, p.Alt = strings.ToLower(name), strings.ToLower(alt)
	if tail != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tail, ":"))
		if !strings.HasPrefix(tail, ":") || err != nil || n <= 0 {
			return FormatPart{}, fmt.Errorf("%q after ): only :N (a length above 0) may follow", tail)
		}
		p.Max = n
	}
	return p, nil
}
