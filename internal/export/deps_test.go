package export_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// Exporters build and test without BPF: the package depends on no
// cilium/ebpf and on no collector.
func TestNoBPFImports(t *testing.T) {
	testutil.Tool(t, "go", "for go list")
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/cilium/ebpf") || strings.HasPrefix(dep, "github.com/kscope/kscope/internal/collector") {
			t.Errorf("export depends on %s", dep)
		}
	}
}
