package main

/*
#include "capi.h"
*/
import "C"

import (
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/envoy-btp/envoy-btp/plugin/golang/adapter"
)

// The SDK's Set copies every header of a map into Go before it writes one
// (to keep a Go-side copy this plugin never reads): per response with
// x-ratelimit-* headers, one more call into Envoy and a map of all headers
// allocated. setHeaderDirect makes the call the SDK's Set ends with, and no
// other. It needs the C processState of the SDK's header map, which the SDK
// keeps unexported: sdkHeaderMap and sdkProcessState mirror the start of its
// types (pkg/http: requestHeaderMapImpl / responseHeaderMapImpl embed
// requestOrResponseHeaderMapImpl, which embeds headerMapImpl, whose first
// field is state *processState; processState is {request, processState}).
// plugin/golang/adapter's TestDirectSetMatchesSDK checks that against the
// SDK's source at the version go.mod pins, and the C stand-in test drives
// it through the built library.
type sdkHeaderMap struct{ state *sdkProcessState }

type sdkProcessState struct {
	request      unsafe.Pointer
	processState unsafe.Pointer // *C.processState
}

const sdkPackage = "github.com/envoyproxy/envoy/contrib/golang/filters/http/source/go/pkg/http"

// sdkMaps are the SDK's request and response header map types, learned
// from the first maps seen.
var sdkMaps [2]atomic.Pointer[reflect.Type]

func isSDKMap(h api.HeaderMap) bool {
	t := reflect.TypeOf(h)
	for i := range sdkMaps {
		if p := sdkMaps[i].Load(); p != nil && *p == t {
			return true
		}
	}
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().PkgPath() != sdkPackage {
		return false
	}
	i := 0
	switch t.Elem().Name() {
	case "requestHeaderMapImpl":
	case "responseHeaderMapImpl":
		i = 1
	default:
		return false
	}
	sdkMaps[i].Store(&t)
	return true
}

func setHeaderDirect(h api.HeaderMap, name, value string) bool {
	if !isSDKMap(h) {
		return false
	}
	m := (*sdkHeaderMap)((*[2]unsafe.Pointer)(unsafe.Pointer(&h))[1])
	res := C.envoyGoFilterHttpSetHeaderHelper(m.state.processState,
		unsafe.Pointer(unsafe.StringData(name)), C.int(len(name)),
		unsafe.Pointer(unsafe.StringData(value)), C.int(len(value)), 0) // HeaderSet
	// The statuses the SDK's Set panics on (handleCApiStatus); the adapter
	// recovers the panic as it would the SDK's.
	switch res {
	case -1:
		panic("request has been finished")
	case -2:
		panic("golang filter has been destroyed")
	case -3:
		panic("not proccessing Go")
	case -4:
		panic("invalid phase, maybe headers/buffer already continued")
	case -9:
		panic("invalid scene for this API")
	}
	return true
}

func init() { adapter.SetHeaderDirect = setHeaderDirect }
