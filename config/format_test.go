package config

import (
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	cases := []struct {
		in   string
		want []FormatPart // nil: static
		lit  string
	}{
		{in: "plain text", lit: "plain text"},
		{in: "100%% sure", lit: "100% sure"},
		{in: "", lit: ""},
		{in: "%RESPONSE_CODE% Oops!", want: []FormatPart{{Kind: FormatResponseCode}, {Text: " Oops!"}}},
		{in: `{"user":"%REQ(X-User-ID)%","code":%RESPONSE_CODE%}`, want: []FormatPart{
			{Text: `{"user":"`}, {Kind: FormatRequestHeader, Text: "x-user-id"}, {Text: `","code":`}, {Kind: FormatResponseCode}, {Text: "}"}}},
		{in: "%REQ(X-A?X-B):3%%%", want: []FormatPart{{Kind: FormatRequestHeader, Text: "x-a", Alt: "x-b", Max: 3}, {Text: "%"}}},
		{in: "%RESP(content-type)% %PROTOCOL% %RESPONSE_CODE_DETAILS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", want: []FormatPart{
			{Kind: FormatResponseHeader, Text: "content-type"}, {Text: " "}, {Kind: FormatProtocol}, {Text: " "},
			{Kind: FormatResponseCodeDetails}, {Text: " "}, {Kind: FormatRemoteAddressWithoutPort}}},
	}
	for _, tc := range cases {
		f, err := ParseFormat(tc.in, "x")
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if tc.want == nil {
			if !f.Static() || f.Literal != tc.lit {
				t.Fatalf("%q: %+v, want static %q", tc.in, f, tc.lit)
			}
			continue
		}
		if f.Static() || len(f.Parts) != len(tc.want) {
			t.Fatalf("%q: %+v, want %+v", tc.in, f.Parts, tc.want)
		}
		for i := range tc.want {
			if f.Parts[i] != tc.want[i] {
				t.Fatalf("%q part %d: %+v, want %+v", tc.in, i, f.Parts[i], tc.want[i])
			}
		}
	}
}

func TestParseFormatErrors(t *testing.T) {
	for in, want := range map[string]string{
		"%START_TIME%":        "%START_TIME%: not supported by envoy-btp",
		"50% off":             "unterminated command operator at byte 2",
		"%REQ(x)x%":           `"x" after ): only :N`,
		"%REQ()%":             "needs a header name",
		"%REQ(a?)%":           "needs a header name",
		"%RESP(a):0%":         `":0" after ): only :N`,
		"%REQ(a%":             "missing )",
		"%UPSTREAM_HOST% x %": "%UPSTREAM_HOST%: not supported",
	} {
		_, err := ParseFormat(in, "responseOverride[0].response.body.inline")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "responseOverride[0].response.body.inline: ") {
			t.Errorf("%q: error %v, want the field path and %q", in, err, want)
		}
	}
	// The error lists what is supported.
	_, err := ParseFormat("%FOO%", "p")
	if err == nil || !strings.Contains(err.Error(), "%RESPONSE_CODE%") || !strings.Contains(err.Error(), "%REQ(X)%") {
		t.Errorf("error %v does not list the supported operators", err)
	}
}

// A responseOverride with an unsupported operator is refused when the
// config loads, naming the field.
func TestOverrideFormatRefusedAtLoad(t *testing.T) {
	_, err := Load([]byte(`{"responseOverride":[{"match":{"statusCodes":[{"value":404}]},"response":{"contentType":"text/%FOO%"}}]}`))
	if err == nil || !strings.Contains(err.Error(), "responseOverride[0].response.contentType") {
		t.Fatalf("error %v", err)
	}
	_, err = Load([]byte(`{"responseOverride":[{"match":{"statusCodes":[{"value":404}]},"response":{"body":{"inline":"%START_TIME%"}}}]}`))
	if err == nil || !strings.Contains(err.Error(), "responseOverride[0].response.body.inline") {
		t.Fatalf("error %v", err)
	}
}
