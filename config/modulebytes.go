package config

import (
	"fmt"

	xdsv3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ModuleBytes are the bytes Envoy (1.40) hands a dynamic module for a
// filter_config Any, which the module then parses: a StringValue's or
// BytesValue's contents, a Struct or an xds.type.v3.TypedStruct's value as
// JSON, and any other type's serialized value as it is (its type URL is
// lost). Envoy does this unwrapping in C++ before the module sees anything;
// `btp check` needs it in Go to run a bootstrap's configs through the
// module's own parser, and e2e/check_test.go holds it to Envoy's.
// A nil Any (no filter_config) gives no bytes.
func ModuleBytes(a *anypb.Any) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	switch a.GetTypeUrl() {
	case TypeURLStringValue:
		var s wrapperspb.StringValue
		if err := a.UnmarshalTo(&s); err != nil {
			return nil, fmt.Errorf("config: decoding %s: %w", a.GetTypeUrl(), err)
		}
		return []byte(s.GetValue()), nil
	case TypeURLBytesValue:
		var b wrapperspb.BytesValue
		if err := a.UnmarshalTo(&b); err != nil {
			return nil, fmt.Errorf("config: decoding %s: %w", a.GetTypeUrl(), err)
		}
		return b.GetValue(), nil
	case TypeURLStruct:
		var s structpb.Struct
		if err := a.UnmarshalTo(&s); err != nil {
			return nil, fmt.Errorf("config: decoding %s: %w", a.GetTypeUrl(), err)
		}
		return protojson.Marshal(&s)
	case TypeURLTypedStruct:
		var ts xdsv3.TypedStruct
		if err := a.UnmarshalTo(&ts); err != nil {
			return nil, fmt.Errorf("config: decoding %s: %w", a.GetTypeUrl(), err)
		}
		v := ts.GetValue()
		if v == nil {
			v = &structpb.Struct{}
		}
		return protojson.Marshal(v)
	}
	return a.GetValue(), nil
}
