package event_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// pure are the packages that describe, render, store, serve and fetch
// events, metrics and profiles, and the syscall name table: they build and
// test without BPF, so none of them may depend on cilium/ebpf.
var pure = []string{"event", "output", "store", "api", "metrics", "config", "profile", "client", "syscallnames"}

// TestNoBPFImports keeps cilium/ebpf out of the pure packages.
func TestNoBPFImports(t *testing.T) {
	testutil.Tool(t, "go", "for go list")
	// One go list per package, so a failure names the package at fault.
	for _, pkg := range pure {
		out, err := exec.Command("go", "list", "-deps", "../"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/cilium/ebpf") {
				t.Errorf("internal/%s depends on %s", pkg, dep)
			}
		}
	}
}
