package codegen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/probe/parse"
)

// getppidFormat is the format of tracepoint syscalls:sys_enter_getppid and
// a made-up sched:demo with every kind of field.
const getppidFormat = `name: sys_enter_getppid
ID: 201
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int __syscall_nr;	offset:8;	size:4;	signed:1;

print fmt: ""
`

const demoFormat = `name: demo
ID: 7
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:__data_loc char[] filename;	offset:8;	size:4;	signed:0;
	field:char comm[16];	offset:12;	size:16;	signed:0;
	field:short delta;	offset:28;	size:2;	signed:1;
	field:const char * path;	offset:32;	size:8;	signed:0;

print fmt: "x"
`

func testFormats(category, name string) (*Format, error) {
	switch category + ":" + name {
	case "syscalls:sys_enter_getppid":
		return ParseFormat("getppid/format", []byte(getppidFormat))
	case "sched:demo":
		return ParseFormat("demo/format", []byte(demoFormat))
	}
	return nil, fmt.Errorf("unknown tracepoint %s:%s", category, name)
}

func compile(t testing.TB, src string, params ...string) (*Object, error) {
	t.Helper()
	prog, err := parse.Parse("t.bt", []byte(src))
	if err != nil {
		t.Fatalf("parsing %q: %v", src, err)
	}
	info, err := check.Check("t.bt", []byte(src), prog, &check.Config{Params: params, Child: true})
	if err != nil {
		t.Fatalf("checking %q: %v", src, err)
	}
	return Compile(prog, info, Options{Format: testFormats, Params: params, ChildPID: 42, File: "t.bt", Source: []byte(src)})
}

func listing(insns asm.Instructions) string {
	var b strings.Builder
	for _, in := range insns {
		if sym := in.Symbol(); sym != "" {
			fmt.Fprintf(&b, "%s:\n", sym)
		}
		fmt.Fprintf(&b, "%v\n", in)
	}
	return b.String()
}

// TestInstructions pins the code generated for small programs.
func TestInstructions(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`BEGIN { exit(); }`, `MovReg dst: r6 src: r1
StMemDW dst: rfp src: r0 off: -16 imm: 3
StMemDW dst: rfp src: r0 off: -8 imm: 0
LoadMapPtr dst: r1 fd: 0 <ks_ring>
MovReg dst: r2 src: rfp
AddImm dst: r2 imm: -16
MovImm dst: r3 imm: 16
MovImm dst: r4 imm: 0
Call FnRingbufOutput
JEqImm dst: r0 off: -1 imm: 0 <L1>
StMemDW dst: rfp src: r0 off: -24 imm: 0
LoadMapPtr dst: r1 fd: 0 <ks_lost>
MovReg dst: r2 src: rfp
AddImm dst: r2 imm: -24
Call FnMapLookupElem
JEqImm dst: r0 off: -1 imm: 0 <L2>
LdXMemDW dst: r1 src: r0 off: 0 imm: 0
AddImm dst: r1 imm: 1
StXMemDW dst: r0 src: r1 off: 0 imm: 0
L2:
MovImm dst: r0 imm: 0
L1:
MovImm dst: r0 imm: 0
LoadMapValue dst: r1, fd: 0 off: 0 <ks_exit>
StMemDW dst: r1 src: r0 off: 0 imm: 1
JNEImm dst: r6 off: -1 imm: 0 <end>
end:
MovImm dst: r0 imm: 0
Exit
`},
		// The predicate jumps to the end; args->__syscall_nr is a signed
		// 4-byte load from the record, sign-extended.
		{`tracepoint:syscalls:sys_enter_getppid /pid == 7/ { $n = args->__syscall_nr; }`, `MovReg dst: r6 src: r1
StMemDW dst: rfp src: r0 off: -8 imm: 0
Call FnGetCurrentPidTgid
RShImm dst: r0 imm: 32
StXMemDW dst: rfp src: r0 off: -16 imm: 0
LdImmDW dst: r0 imm: 7
MovReg dst: r1 src: r0
LdXMemDW dst: r0 src: rfp off: -16 imm: 0
MovReg dst: r2 src: r0
MovImm dst: r0 imm: 1
JEqReg dst: r2 off: -1 src: r1 <L1>
MovImm dst: r0 imm: 0
L1:
MovReg dst: r0 src: r0
JEqImm dst: r0 off: -1 imm: 0 <end>
LdXMemW dst: r0 src: r6 off: 8 imm: 0
LShImm dst: r0 imm: 32
ArShImm dst: r0 imm: 32
StXMemDW dst: rfp src: r0 off: -8 imm: 0
end:
MovImm dst: r0 imm: 0
Exit
`},
	} {
		obj, err := compile(t, tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		got := listing(obj.Spec.Programs["ks_p0"].Instructions)
		if got != tc.want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", tc.src, got, tc.want)
		}
	}
}

// TestMapLayout checks the BPF maps made for each kind of script map.
func TestMapLayout(t *testing.T) {
	obj, err := compile(t, `tracepoint:syscalls:sys_enter_getppid {
		@c[comm] = count(); @s = sum(1); @a[pid, comm] = avg(2); @mi = min(3); @st = stats(4);
		@h[tid] = hist(5); @l = lhist(6, 0, 100, 10); @i[1] = 2; @str["k"] = comm; }`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		typ        ebpf.MapType
		key, value uint32
	}{
		"a": {ebpf.PerCPUHash, 72, 16}, "c": {ebpf.PerCPUHash, 64, 8}, "h": {ebpf.PerCPUHash, 16, 16},
		"i": {ebpf.Hash, 8, 8}, "l": {ebpf.PerCPUHash, 16, 16}, "mi": {ebpf.PerCPUHash, 8, 16},
		"s": {ebpf.PerCPUHash, 8, 8}, "st": {ebpf.PerCPUHash, 8, 16}, "str": {ebpf.Hash, 64, 64},
	}
	if len(obj.Maps) != len(want) {
		t.Fatalf("%d maps, want %d", len(obj.Maps), len(want))
	}
	for _, m := range obj.Maps {
		w, ok := want[m.Name]
		spec := obj.Spec.Maps[m.BPF]
		if !ok || spec.Type != w.typ || spec.KeySize != w.key || spec.ValueSize != w.value {
			t.Errorf("@%s: %v key %d value %d, want %+v", m.Name, spec.Type, spec.KeySize, spec.ValueSize, w)
		}
	}
	l := obj.Maps[4]
	if l.Name != "l" || l.Min != 0 || l.Max != 100 || l.Step != 10 {
		t.Errorf("lhist bounds: %+v", l)
	}
}

// TestCallLayout checks a printf's record layout.
func TestCallLayout(t *testing.T) {
	obj, err := compile(t, `BEGIN { printf("%d %s %d\n", 1, comm, 2); time("%H\n"); print(@x); clear(@x); @x = 1; }`)
	if err != nil {
		t.Fatal(err)
	}
	if len(obj.Calls) != 4 {
		t.Fatalf("%d calls, want 4", len(obj.Calls))
	}
	p := obj.Calls[0]
	if p.Kind != CallPrintf || p.Size != 16+8+64+8 || p.Format != "%d %s %d\n" ||
		fmt.Sprint(p.Args) != "[{false 16} {true 24} {false 88}]" {
		t.Errorf("printf call: %+v", p)
	}
	if c := obj.Calls[1]; c.Kind != CallTime || c.Format != "%H\n" {
		t.Errorf("time call: %+v", c)
	}
	if c := obj.Calls[2]; c.Kind != CallPrint || c.Map != 0 {
		t.Errorf("print call: %+v", c)
	}
	if c := obj.Calls[3]; c.Kind != CallClear || c.Map != 0 {
		t.Errorf("clear call: %+v", c)
	}
}

// TestNotCompiled checks that what is not compiled yet is an error at the
// right place, never a program.
func TestNotCompiled(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`BEGIN { @m[1] = count(); for ($kv : @m) { } }`, "t.bt:1:37: for over a count() map is not compiled yet"},
		{`BEGIN { @t = strftime("%H", 1); @t = "x"; }`, `t.bt:1:38: @t holds another kind of value elsewhere`},
		{`tracepoint:syscalls:sys_enter_getppid { @ = kstack(perf); }`, "stack mode perf is not compiled yet (bpftrace is)"},
		{`tracepoint:syscalls:sys_enter_getppid { @ = count(); $x = @; }`, "t.bt:1:59: reading @ needs the number of CPUs, which is not known here"},
		{`tracepoint:syscalls:sys_enter_getppid { @x = args->nope; }`, `t.bt:1:50: tracepoint tracepoint:syscalls:sys_enter_getppid has no field "nope"; it has: __syscall_nr`},
		{`tracepoint:syscalls:sys_enter_nope { }`, "unknown tracepoint syscalls:sys_enter_nope"},
		{`tracepoint:syscalls:sys_enter_* { }`, "wildcards in tracepoint names cannot be expanded here"},
		{`usdt:/bin/true:p:n { }`, "usdt probes cannot be resolved here: usdt:/bin/true:p:n"},
		{`fentry:vfs_read { }`, "t.bt:1:1: this needs the kernel's BTF (struct members, fentry and fexit arguments)"},
		{`BEGIN { $p = path(1); }`, "t.bt:1:14: path() is not compiled yet"},
		{`tracepoint:sched:demo { printf("%s\n", args->path); }`, `t.bt:1:44: printf %s needs a string, and this is an integer (a pointer to a string needs str())`},
		{`tracepoint:sched:demo { printf("%d\n", args->comm); }`, `t.bt:1:44: printf %d needs an integer, and this is a string`},
		{`// nothing`, "t.bt:1:1: the script has no probes to attach"},
		{`BEGIN { $t = (1, kstack); }`, "t.bt:1:9: a tuple holding stack is not compiled yet (integers and strings are)"},
		{`BEGIN { @m[1] = (1, 2); $x = @m[1]; }`, "t.bt:1:30: a tuple from this expression is not compiled yet (a tuple literal or a $variable holding one is)"},

		{`BEGIN { printf("%s %s %s %s %s %s %s %s\n", comm, comm, comm, comm, comm, comm, comm, comm); }`, "needs more than 512 bytes of stack"},
	} {
		_, err := compile(t, tc.src)
		var list ast.ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%s: error %v (%T), want an ast.ErrorList", tc.src, err, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\ngot  %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// TestStringFields reads every kind of tracepoint field.
func TestStringFields(t *testing.T) {
	obj, err := compile(t, `tracepoint:sched:demo { printf("%s %s %s %d\n", args->filename, args->comm, str(args->path), args->delta); }`)
	if err != nil {
		t.Fatal(err)
	}
	got := listing(obj.Spec.Programs["ks_p0"].Instructions)
	for _, want := range []string{
		"LdXMemW dst: r3 src: r6 off: 8 imm: 0\nAndImm dst: r3 imm: 65535\nAddReg dst: r3 src: r6", // __data_loc
		"Call FnProbeReadKernelStr",
		"MovReg dst: r3 src: r6\nAddImm dst: r3 imm: 12", // char comm[16]
		"MovImm dst: r2 imm: 16\nCall FnProbeReadKernel\n",
		"LdXMemDW dst: r0 src: r6 off: 32 imm: 0", // the pointer str() reads
		"LdXMemH dst: r0 src: r6 off: 28 imm: 0\nLShImm dst: r0 imm: 48\nArShImm dst: r0 imm: 48",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing\n%s\nin\n%s", want, got)
		}
	}
}

func TestParseFormat(t *testing.T) {
	f, err := ParseFormat("demo", []byte(demoFormat))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s %d %+v", f.Name, f.ID, f.Fields)
	want := "demo 7 [{Name:filename Type:char Offset:8 Size:4 Signed:false Array:0 DataLoc:true} {Name:comm Type:char Offset:12 Size:16 Signed:false Array:16 DataLoc:false} {Name:delta Type:short Offset:28 Size:2 Signed:true Array:0 DataLoc:false} {Name:path Type:const char * Offset:32 Size:8 Signed:false Array:0 DataLoc:false}]"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"name: x\nformat:\n\tfield:int a;\toffset:zz;\tsize:4;\tsigned:1;\n", `bad:3: field "int a": bad offset "zz"`},
		{"name: x\nID: q\n", `bad:2: reading the tracepoint ID`},
		{"format:\n", "bad: no name: line"},
		{"name: x\n\tfield:int a[;\toffset:1;\tsize:4;\n", `bad:2: field "int a[": unclosed [`},
	} {
		_, err := ParseFormat("bad", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseFormat(f *testing.F) {
	f.Add([]byte(getppidFormat))
	f.Add([]byte(demoFormat))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseFormat("fuzz", data)
	})
}

// FuzzCompile: parse → check → compile never panics, and every program of
// a compiled script ends in exit.
func FuzzCompile(f *testing.F) {
	for _, dir := range []string{"../testdata", "/usr/sbin", "/usr/share/bpftrace/tools"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.bt"))
		for _, file := range m {
			if src, err := os.ReadFile(file); err == nil {
				f.Add(src)
			}
		}
	}
	for _, s := range []string{
		`BEGIN { @c["a"] = count(); @s = sum(5); @h = hist(3); @l = lhist(5, 0, 100, 10); printf("%d %s\n", 1, comm); exit(); }`,
		`tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "x"/ { @[comm, tid] = stats(args->__syscall_nr); $x = 1 ? 2 : 3; $x++; @m[1] += $x; delete(@m[1]); }`,
		`tracepoint:sched:demo { if (args->delta > 0) { @[args->comm] = max(args->delta); } else { print(args->filename); } }`,
		`BEGIN { @m[1] = 2; @s["a", 1] = "b"; for ($kv : @m) { if ($kv.0 > 1) { break; } @x += $kv.1; } for ($e : @s) { printf("%s %s\n", $e.0.0, $e.1); } for ($i : 0..3) { @y += $i; } }`,
		`BEGIN { $a = ntop(0x0100007f); @n[ntop(2, 1), username] = count(); printf("%s %r %s %d %d\n", $a, buf("ab", 2), strftime("%H", nsecs), strncmp("a", "b", 1), strcontains("abc", "b")); @h = hist(5, 2); exit(3); }`,
		`tracepoint:sched:demo { @s[tid] = kstack; @k[@s[tid]] = count(); printf("%s\n", macaddr(args->comm)); join(args->filename); }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		prog, err := parse.Parse("fuzz.bt", src)
		if err != nil {
			return
		}
		info, err := check.Check("fuzz.bt", src, prog, &check.Config{Params: []string{"1", "x"}, Child: true})
		if err != nil {
			return
		}
		obj, err := Compile(prog, info, Options{Format: testFormats, Params: []string{"1", "x"}, File: "fuzz.bt", Source: src})
		if err != nil {
			var list ast.ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for name, p := range obj.Spec.Programs {
			if n := len(p.Instructions); n == 0 || p.Instructions[n-1].OpCode.JumpOp() != asm.Exit {
				t.Fatalf("program %s does not end in exit:\n%v", name, p.Instructions)
			}
		}
	})
}
