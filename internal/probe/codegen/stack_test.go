package codegen

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/kscope/kscope/internal/probe/ast"
)

// Stacks are stack ids in stack trace maps, one map per frame limit; user
// stacks carry the process id; user space renders them, and ksym.
func TestStacks(t *testing.T) {
	obj, err := compile(t, `tracepoint:syscalls:sys_enter_getppid { @k[kstack] = count(); @u[comm, ustack(5)] = count(); printf("%s %s %d\n", kstack(bpftrace, 3), ksym(1), 2); }`)
	if err != nil {
		t.Fatal(err)
	}
	for name, frames := range map[string]uint32{"ks_stack127": 127, "ks_stack5": 5, "ks_stack3": 3} {
		m := obj.Spec.Maps[name]
		if m == nil || m.Type != ebpf.StackTrace || m.KeySize != 4 || m.ValueSize != 8*frames || m.MaxEntries != 4096 {
			t.Errorf("stack map %s: %+v", name, m)
		}
	}
	k, u := obj.Maps[0], obj.Maps[1]
	if r := k.Render[0]; len(k.Render) != 1 || r != (Render{Kind: RenderKStack, StackMap: "ks_stack127", Limit: 127}) {
		t.Errorf("@k renders %+v", k.Render)
	}
	if r := u.Render[1]; len(u.Render) != 1 || r != (Render{Kind: RenderUStack, StackMap: "ks_stack5", Limit: 5}) || !u.Keys[0].String || u.Keys[1].String {
		t.Errorf("@u renders %+v, keys %+v", u.Render, u.Keys)
	}
	c := obj.Calls[0]
	if len(c.Render) != 2 || c.Render[0] != (Render{Kind: RenderKStack, StackMap: "ks_stack3", Limit: 3}) || c.Render[1] != (Render{Kind: RenderKsym}) {
		t.Errorf("printf renders %+v", c.Render)
	}
	got := listing(obj.Spec.Programs["ks_p0"].Instructions)
	for _, want := range []string{
		"MovReg dst: r1 src: r6\nLoadMapPtr dst: r2 fd: 0 <ks_stack127>\nMovImm dst: r3 imm: 0\nCall FnGetStackid\nMovReg32 dst: r0 src: r0",
		"MovImm dst: r3 imm: 256\nCall FnGetStackid\nMovReg32 dst: r0 src: r0\nStXMemDW",
		"Call FnGetCurrentPidTgid\nRShImm dst: r0 imm: 32\nStXMemW",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing\n%s\nin\n%s", want, got)
		}
	}
}

func TestStackErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`tracepoint:syscalls:sys_enter_getppid { @[kstack(perf)] = count(); }`, "t.bt:1:50: stack mode perf is not compiled yet (bpftrace is)"},
		{`tracepoint:syscalls:sys_enter_getppid { @[kstack(0)] = count(); }`, "t.bt:1:50: a stack limit is from 1 to 127 frames, not 0"},
		{`tracepoint:syscalls:sys_enter_getppid { @[kstack] = count(); @[ustack] = count(); }`, "t.bt:1:64: this stack or symbol is stored where another kind (or another limit) is"},
	} {
		_, err := compile(t, tc.src)
		var list ast.ErrorList
		if !errors.As(err, &list) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\ngot  %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// usym stores the address and the process id in a string slot.
func TestUsym(t *testing.T) {
	obj, err := compile(t, `uprobe:/bin/sh:main { @[usym(arg0)] = count(); }`)
	if err != nil {
		t.Fatal(err)
	}
	m := obj.Maps[0]
	if len(m.Render) != 1 || m.Render[0] != (Render{Kind: RenderUsym}) || !m.Keys[0].String {
		t.Errorf("@ renders %+v, keys %+v", m.Render, m.Keys)
	}
	got := listing(obj.Spec.Programs["ks_p0"].Instructions)
	if want := "LdXMemDW dst: r0 src: r6 off: 112 imm: 0\nStXMemDW dst: rfp src: r0 off: -72 imm: 0\nCall FnGetCurrentPidTgid\nRShImm dst: r0 imm: 32\nStXMemDW dst: rfp src: r0 off: -64 imm: 0\n"; !strings.Contains(got, want) {
		t.Errorf("missing\n%s\nin\n%s", want, got)
	}
}
