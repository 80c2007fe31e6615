//go:build btpfloor

package main

/*
#cgo CFLAGS: -DBTP_FLOOR
#include <stdbool.h>
#include <stdint.h>
*/
import "C"

// With -tags btpfloor the module is benchload's floor-abi: every request
// enters Go once, reads its route's config and continues; nothing is
// enforced. It prices one crossing through this host's own ABI code (see
// e2e/cmd/benchload and BENCHMARKS.md); never a module to deploy.

// floorRouted keeps the read from being optimised away.
var floorRouted bool

//export btpFloor
func btpFloor(route C.uintptr_t, yield C.bool) {
	floorRouted = route != 0 && configAt(route).route != nil
	tick(bool(yield))
}
