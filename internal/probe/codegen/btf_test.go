package codegen

import (
	"strings"
	"testing"
)

// Without the kernel's BTF, member access is an error that says so; the
// macro table needs none.
func TestBTFUnavailable(t *testing.T) {
	_, err := compile(t, `BEGIN { @ = curtask->pid; }`)
	if err == nil || !strings.Contains(err.Error(), "t.bt:1:13: this needs the kernel's BTF (struct members, fentry and fexit arguments): no kernel BTF available here") {
		t.Errorf("got %v", err)
	}
	obj, err := compile(t, `BEGIN { @ = AF_INET6; }`)
	if err != nil {
		t.Fatal(err)
	}
	if got := listing(obj.Spec.Programs["ks_p0"].Instructions); !strings.Contains(got, "LdImmDW dst: r0 imm: 10\n") {
		t.Errorf("AF_INET6 is not 10 in\n%s", got)
	}
}
