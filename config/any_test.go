package config

import (
	"strings"
	"testing"

	udpav1 "github.com/cncf/xds/go/udpa/type/v1"
	xdsv3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const anyJSON = `{"requestBuffer":{"limit":"4096"},"rateLimit":{"type":"Local","local":{"rules":[{"limit":{"requests":7,"unit":"Minute"}}]}}}`

func TestParseAnyForms(t *testing.T) {
	st := &structpb.Struct{}
	if err := st.UnmarshalJSON([]byte(anyJSON)); err != nil {
		t.Fatal(err)
	}
	msgs := map[string]proto.Message{
		"xds TypedStruct":  &xdsv3.TypedStruct{TypeUrl: "type.googleapis.com/btp", Value: st},
		"udpa TypedStruct": &udpav1.TypedStruct{TypeUrl: "type.googleapis.com/btp", Value: st},
		"Struct":           st,
		"StringValue":      wrapperspb.String(anyJSON),
		"BytesValue":       wrapperspb.Bytes([]byte(anyJSON)),
	}
	for name, m := range msgs {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseAny(a)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c, err := Compile(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Buffer.Limit != 4096 || c.RateLimit.Default.Requests != 7 {
			t.Fatalf("%s: %+v", name, c)
		}
	}
}

func TestParseAnyErrors(t *testing.T) {
	a, _ := anypb.New(wrapperspb.Int32(3))
	if _, err := ParseAny(a); err == nil || !strings.Contains(err.Error(), `unsupported config type "type.googleapis.com/google.protobuf.Int32Value"`) {
		t.Fatalf("Int32Value: %v", err)
	}
	st, _ := structpb.NewStruct(map[string]any{"retry": map[string]any{"numRetry": 2.0}})
	ts, _ := anypb.New(&xdsv3.TypedStruct{Value: st})
	if _, err := ParseAny(ts); err == nil || !strings.Contains(err.Error(), `retry.numRetry: unknown field "numRetry"`) {
		t.Fatalf("TypedStruct unknown field: %v", err)
	}
	if p, err := ParseAny(nil); err != nil || p.RateLimit != nil {
		t.Fatalf("nil Any: %v", err)
	}
	bad := &anypb.Any{TypeUrl: TypeURLStruct, Value: []byte{0xff, 0xff}}
	if _, err := ParseAny(bad); err == nil {
		t.Fatal("corrupt Struct accepted")
	}
}

// The dynamic-module host gets a udpa.type.v1.TypedStruct as its serialized
// bytes (Envoy converts only StringValue, BytesValue, Struct and
// xds.type.v3.TypedStruct to JSON; e2e TestTypedStructConfigs shows it).
func TestParseBytesForms(t *testing.T) {
	st := &structpb.Struct{}
	if err := st.UnmarshalJSON([]byte(anyJSON)); err != nil {
		t.Fatal(err)
	}
	withURL, _ := proto.Marshal(&udpav1.TypedStruct{TypeUrl: "type.googleapis.com/envoy-btp.config", Value: st})
	noURL, _ := proto.Marshal(&udpav1.TypedStruct{Value: st})
	for name, data := range map[string][]byte{"JSON": []byte(anyJSON), "JSON after a newline": []byte("\n" + anyJSON),
		"udpa TypedStruct": withURL, "udpa TypedStruct without type_url": noURL} {
		p, err := ParseBytes(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c, err := Compile(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Buffer.Limit != 4096 || c.RateLimit.Default.Requests != 7 {
			t.Fatalf("%s: %+v", name, c)
		}
	}
	if p, err := ParseBytes(nil); err != nil || p.RateLimit != nil {
		t.Fatalf("empty: %+v, %v", p, err)
	}
}

func TestParseBytesErrors(t *testing.T) {
	bad, _ := structpb.NewStruct(map[string]any{"retry": map[string]any{"numRetry": 2.0}})
	ts, _ := proto.Marshal(&udpav1.TypedStruct{Value: bad})
	if _, err := ParseBytes(ts); err == nil || !strings.Contains(err.Error(), `retry.numRetry: unknown field "numRetry"`) {
		t.Fatalf("udpa TypedStruct unknown field: %v", err)
	}
	// Some other message's bytes (an Int32Value: field 1 varint) are not a
	// TypedStruct and not JSON.
	other, _ := proto.Marshal(wrapperspb.Int32(3))
	for name, data := range map[string][]byte{"ten megs": []byte("ten megs"), "Int32Value": other, "truncated JSON": []byte(`{"retry":`)} {
		_, err := ParseBytes(data)
		if err == nil || !strings.Contains(err.Error(), "config: invalid JSON") || !strings.Contains(err.Error(), "nor is it a udpa.type.v1.TypedStruct") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
