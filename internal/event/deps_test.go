package event_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// TestNoBPFImports keeps the packages that render and (later) store and
// export events free of cilium/ebpf, so they build and test without BPF.
func TestNoBPFImports(t *testing.T) {
	testutil.Tool(t, "go", "for go list")
	for _, pkg := range []string{"../event", "../output"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/cilium/ebpf") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
