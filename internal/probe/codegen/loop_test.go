package codegen

import (
	"strings"
	"testing"
)

// A while loop jumps back to its condition; break and continue jump to
// its end and its condition, conditionally on the context so that what
// follows stays reachable; unroll repeats its body.
func TestLoops(t *testing.T) {
	obj, err := compile(t, `BEGIN { $i = 0; while ($i < 4) { $i++; if ($i == 1) { continue; } break; } unroll(2) { @u++; } }`)
	if err != nil {
		t.Fatal(err)
	}
	got := listing(obj.Spec.Programs["ks_p0"].Instructions)
	for _, want := range []string{"L1:\n", "JEqImm dst: r0 off: -1 imm: 0 <L2>", "JNEImm dst: r6 off: -1 imm: 0 <L1>", "JNEImm dst: r6 off: -1 imm: 0 <L2>\nJa off: -1 <L1>\nL2:"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if n := strings.Count(got, "<ks_m0>"); n != 4 { // a lookup and an update each
		t.Errorf("unroll(2) uses @u %d times, want 4", n)
	}
}
