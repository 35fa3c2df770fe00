package output_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// TestSinksDoNotRender keeps the terminal renderer out of the packages
// that store and serve events: they write event's wire encoding.
func TestSinksDoNotRender(t *testing.T) {
	testutil.Tool(t, "go", "for go list")
	out, err := exec.Command("go", "list", "-deps", "../store", "../api", "../profile").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/kscope/kscope/internal/output" {
			t.Errorf("store, api or profile depends on %s", dep)
		}
	}
}
