// Command dynmod is envoy-btp's engine as an Envoy dynamic module
// (`make dynmod` -> build/out/libbtp_module.so). Envoy loads it for
// dynamic_module_config.name "btp_module" and selects the filter "btp";
// see docs/dynmod.md.
//
// The module implements Envoy's dynamic-module ABI itself (abi.h, hooks.c,
// config.go, stream.go) rather than through the Go SDK's abi package: the
// hooks with nothing to do answer in C without entering Go, a request's Go
// state is reused instead of allocated, headers are read in one call per
// map, and no per-request map or lock stands between Envoy and the engine.
// plugin/dynmod/adapter holds the engine glue and its tests.
package main

func main() {}
