package agent_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// The agent, the API, the stores and the renderer know collectors only
// through the registry (package collector) and the interfaces they
// implement: none depends on a collector's package. The binary links the
// collectors in (cmd/kscope/collectors.go).
func TestNoCollectorImports(t *testing.T) {
	testutil.Tool(t, "go", "for go list")
	out, err := exec.Command("go", "list", "-deps", "../agent", "../api", "../store", "../output").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/kscope/kscope/internal/collector/") {
			t.Errorf("depends on %s", dep)
		}
	}
}
