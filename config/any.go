package config

import (
	"bytes"
	"encoding/json"
	"fmt"

	udpav1 "github.com/cncf/xds/go/udpa/type/v1"
	xdsv3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Type URLs the filter accepts its config in.
const (
	TypeURLTypedStruct     = "type.googleapis.com/xds.type.v3.TypedStruct"
	TypeURLUdpaTypedStruct = "type.googleapis.com/udpa.type.v1.TypedStruct"
	TypeURLStruct          = "type.googleapis.com/google.protobuf.Struct"
	TypeURLStringValue     = "type.googleapis.com/google.protobuf.StringValue"
	TypeURLBytesValue      = "type.googleapis.com/google.protobuf.BytesValue"
)

// ParseAny decodes the config from the Any a host receives: a TypedStruct
// (xds.type.v3 or udpa.type.v1) or a Struct holding the config object, or a
// StringValue / BytesValue holding it as JSON. A nil Any is an empty
// config, and so is an empty one (no type, no value): what Envoy's golang
// filter hands over for a filter without plugin_config.
func ParseAny(a *anypb.Any) (*Policy, error) {
	if a == nil || (a.GetTypeUrl() == "" && len(a.GetValue()) == 0) {
		return &Policy{}, nil
	}
	switch a.GetTypeUrl() {
	case TypeURLTypedStruct:
		var ts xdsv3.TypedStruct
		if err := a.UnmarshalTo(&ts); err != nil {
			return nil, fmt.Errorf("config: decoding %s: %w", a.GetTypeUrl(), err)
		}
		return ParseStruct(ts.GetValue())
	case TypeURLUdpaTypedStruct:
		var ts udpav1.TypedStruct
		if err := a.UnmarshalTo(&ts); err != nil {
			return nil, fmt.Errorf("config: decoding %s: %w", a.GetTypeUrl(), err)
		}
		return ParseStruct(ts.GetValue())
	case TypeURLStruct:
		var s structpb.Struct
		if err := a.UnmarshalTo(&s); err != nil {
			return nil, fmt.Errorf("config: decoding %s: %w", a.GetTypeUrl(), err)
		}
		return ParseStruct(&s)
	case TypeURLStringValue:
		var s wrapperspb.StringValue
		if err := a.UnmarshalTo(&s); err != nil {
			return nil, fmt.Errorf("config: decoding %s: %w", a.GetTypeUrl(), err)
		}
		return Parse([]byte(s.GetValue()))
	case TypeURLBytesValue:
		var b wrapperspb.BytesValue
		if err := a.UnmarshalTo(&b); err != nil {
			return nil, fmt.Errorf("config: decoding %s: %w", a.GetTypeUrl(), err)
		}
		return Parse(b.GetValue())
	}
	return nil, fmt.Errorf("config: unsupported config type %q: allowed %s, %s, %s, %s, %s",
		a.GetTypeUrl(), TypeURLTypedStruct, TypeURLUdpaTypedStruct, TypeURLStruct, TypeURLStringValue, TypeURLBytesValue)
}

// ParseBytes decodes the config bytes the dynamic-module host receives.
// Envoy hands a module a StringValue's or BytesValue's contents and a
// Struct or xds.type.v3.TypedStruct as JSON, but any other Any as its
// serialized value, without its type URL: bytes that are not JSON are
// therefore decoded as a udpa.type.v1.TypedStruct, strictly (no unknown
// fields), so both TypedStructs work in both hosts.
func ParseBytes(data []byte) (*Policy, error) {
	if len(bytes.TrimSpace(data)) == 0 || json.Valid(data) {
		return Parse(data)
	}
	var ts udpav1.TypedStruct
	if err := proto.Unmarshal(data, &ts); err == nil && len(ts.ProtoReflect().GetUnknown()) == 0 {
		return ParseStruct(ts.GetValue())
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (nor is it a udpa.type.v1.TypedStruct: allowed JSON in a %s, %s, %s, %s or %s)", err,
			TypeURLStringValue, TypeURLBytesValue, TypeURLStruct, TypeURLTypedStruct, TypeURLUdpaTypedStruct)
	}
	return p, nil
}

// ParseStruct decodes the config from a google.protobuf.Struct.
func ParseStruct(s *structpb.Struct) (*Policy, error) {
	if s == nil {
		return &Policy{}, nil
	}
	data, err := protojson.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("config: encoding Struct: %w", err)
	}
	return Parse(data)
}
