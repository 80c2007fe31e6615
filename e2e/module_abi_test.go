package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// plugin/dynmod declares the part of Envoy's dynamic-module ABI it uses in
// its own abi.h (its hooks are partly C). Compiled after the ABI header of
// the pinned SDK module with BTP_WITH_ENVOY_ABI_H, every prototype must be
// compatible with Envoy's and every value and layout it asserts must hold:
// a drift is a compile error here instead of a crash in Envoy.
func TestModuleABIMatchesEnvoys(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/envoyproxy/envoy/source/extensions/dynamic_modules").Output()
	if err != nil {
		t.Fatalf("go list the SDK module: %v", err)
	}
	envoyABI := filepath.Join(strings.TrimSpace(string(out)), "abi", "abi.h")
	if _, err := os.Stat(envoyABI); err != nil {
		t.Fatalf("Envoy's ABI header: %v", err)
	}
	ours, err := filepath.Abs("../plugin/dynmod/abi.h")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "abi_check.c")
	code := "#include \"" + envoyABI + "\"\n#define BTP_WITH_ENVOY_ABI_H\n#include \"" + ours + "\"\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("gcc", "-std=c11", "-Werror", "-fsyntax-only", src).CombinedOutput(); err != nil {
		t.Fatalf("plugin/dynmod/abi.h does not match %s:\n%s", envoyABI, msg)
	}
	// And the check bites: a prototype that differs from Envoy's is refused.
	bad := code + "void envoy_dynamic_module_callback_http_filter_continue_decoding(int);\n"
	if err := os.WriteFile(src, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("gcc", "-std=c11", "-Werror", "-fsyntax-only", src).Run(); err == nil {
		t.Fatal("a conflicting prototype compiled: the check cannot catch a drift")
	}
}
