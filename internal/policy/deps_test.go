package policy

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// TestNoBPFImports: policy files are checked and tested offline, on hosts
// and in CI jobs without BPF, so this package does not depend on cilium/ebpf.
func TestNoBPFImports(t *testing.T) {
	testutil.Tool(t, "go", "for go list")
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/cilium/ebpf") {
			t.Errorf("internal/policy depends on %s", dep)
		}
	}
}
