package usdt

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

func reg(name string) Reg {
	r, ok := RegByName(name)
	if !ok {
		panic(name)
	}
	return r
}

func TestParseArg(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Arg
	}{
		{"-4@%eax", Arg{Kind: ArgReg, Size: 4, Signed: true, Reg: reg("rax")}},
		{"8@%rdi", Arg{Kind: ArgReg, Size: 8, Reg: reg("rdi")}},
		{"-1@%dil", Arg{Kind: ArgReg, Size: 1, Signed: true, Reg: reg("rdi")}},
		{"2@%si", Arg{Kind: ArgReg, Size: 2, Reg: reg("rsi")}},
		{"4@%r8d", Arg{Kind: ArgReg, Size: 4, Reg: reg("r8")}},
		{"1@%r15b", Arg{Kind: ArgReg, Size: 1, Reg: reg("r15")}},
		{"8@-8(%rbp)", Arg{Kind: ArgMem, Size: 8, Reg: reg("rbp"), Value: -8}},
		{"-4@16(%rsp)", Arg{Kind: ArgMem, Size: 4, Signed: true, Reg: reg("rsp"), Value: 16}},
		{"4@(%rax)", Arg{Kind: ArgMem, Size: 4, Reg: reg("rax")}},
		{"1@16(%rax,%rdx,8)", Arg{Kind: ArgMem, Size: 1, Reg: reg("rax"), Index: reg("rdx"), Scale: 8, Value: 16}},
		{"-2@(%rdi,%rsi,2)", Arg{Kind: ArgMem, Size: 2, Signed: true, Reg: reg("rdi"), Index: reg("rsi"), Scale: 2}},
		{"8@(%rdi,%rsi)", Arg{Kind: ArgMem, Size: 8, Reg: reg("rdi"), Index: reg("rsi"), Scale: 1}},
		{"8@0x10(,%rcx,4)", Arg{Kind: ArgMem, Size: 8, Index: reg("rcx"), Scale: 4, Value: 16}},
		{"-4@$5", Arg{Kind: ArgConst, Size: 4, Signed: true, Value: 5}},
		{"4@$-3", Arg{Kind: ArgConst, Size: 4, Value: -3}},
		{"8@$0xffffffffffffffff", Arg{Kind: ArgConst, Size: 8, Value: -1}},
		{"-4@global_counter(%rip)", Arg{Kind: ArgGlobal, Size: 4, Signed: true, Symbol: "global_counter"}},
		{"8@tbl+16(%rip)", Arg{Kind: ArgGlobal, Size: 8, Symbol: "tbl", Value: 16}},
		{"8@8(%rip)", Arg{Kind: ArgMem, Size: 8, Reg: reg("rip"), Value: 8}},
		{"%rax", Arg{Kind: ArgReg, Size: 8, Reg: reg("rax")}},
	} {
		got, err := ParseArg(c.in)
		c.want.Spec = c.in
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v, %v\nwant %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "4@", "3@%eax", "x@%eax", "4@%xyz", "4@%ah", "4@%rip", "4@5", "4@(%eax)",
		"4@8(%rax,%rdx,3)", "4@(%rax,%rip)", "4@1+(%rax)", "4@$", "4@$x", "4@(", "4@()", "4@8(%rax", "4@a b(%rip)",
		"4@(%rax,%rbx,4,5)", "4@sym(%rax)", "16@%rax", "4@$--1"} {
		if a, err := ParseArg(bad); err == nil {
			t.Errorf("%q: accepted as %+v", bad, a)
		}
	}
}

func TestParseArgs(t *testing.T) {
	args, err := ParseArgs("-1@%dil 2@%si -4@%edx -8@%rcx 8@%r8")
	if err != nil || len(args) != 5 || args[4].Reg != reg("r8") {
		t.Fatalf("%+v %v", args, err)
	}
	if args, err := ParseArgs(""); err != nil || len(args) != 0 {
		t.Errorf("no arguments: %+v %v", args, err)
	}
	if _, err := ParseArgs(strings.Repeat("8@%rax ", 13)); err == nil {
		t.Error("13 arguments accepted")
	}
	if _, err := ParseArgs("8@%rax 4@%bad"); err == nil || !strings.Contains(err.Error(), "argument 2") {
		t.Errorf("bad second argument: %v", err)
	}
}

func TestPtRegsOffsets(t *testing.T) {
	// struct pt_regs on x86-64.
	for name, off := range map[string]int{"r15": 0, "rbp": 32, "rbx": 40, "r8": 72, "rax": 80, "rcx": 88, "rdx": 96, "rsi": 104, "rdi": 112, "rip": 128, "rsp": 152} {
		if got := reg(name).PtRegsOffset(); got != off {
			t.Errorf("%s: %d, want %d", name, got, off)
		}
		if reg(name).String() != name {
			t.Errorf("%s: String %s", name, reg(name))
		}
	}
}

// note builds one ELF note.
func note(owner string, typ uint32, desc []byte) []byte {
	b := binary.LittleEndian
	name := append([]byte(owner), 0)
	out := b.AppendUint32(nil, uint32(len(name)))
	out = b.AppendUint32(out, uint32(len(desc)))
	out = b.AppendUint32(out, typ)
	out = append(out, name...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	out = append(out, desc...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	return out
}

func stapsdt(pc, base, sem uint64, provider, name, args string) []byte {
	b := binary.LittleEndian
	d := b.AppendUint64(nil, pc)
	d = b.AppendUint64(d, base)
	d = b.AppendUint64(d, sem)
	d = append(d, provider+"\x00"+name+"\x00"+args+"\x00"...)
	return note("stapsdt", 3, d)
}

func TestParseNotes(t *testing.T) {
	data := append(stapsdt(0x1130, 0x2004, 0, "libc", "setjmp", "8@%rdi -4@%esi 8@%rax"), note("GNU", 3, make([]byte, 20))...)
	data = append(data, stapsdt(0x1200, 0x2004, 0x4010, "app", "req", "-4@$5")...)
	data = append(data, stapsdt(0x1300, 0x2004, 0, "app", "bad", "4@%nope")...)
	probes, err := ParseNotes(data, binary.LittleEndian)
	if err == nil || !strings.Contains(err.Error(), "app:bad") {
		t.Errorf("want the bad probe reported, got %v", err)
	}
	if len(probes) != 3 {
		t.Fatalf("%d probes: %+v", len(probes), probes)
	}
	p := probes[0]
	if p.Provider != "libc" || p.Name != "setjmp" || p.PC != 0x1130 || p.Base != 0x2004 || p.Semaphore != 0 || len(p.Args) != 3 || p.ArgSpec != "8@%rdi -4@%esi 8@%rax" {
		t.Errorf("first: %+v", p)
	}
	if p := probes[1]; p.Semaphore != 0x4010 || len(p.Args) != 1 || p.Args[0].Value != 5 {
		t.Errorf("second: %+v", p)
	}
	if p := probes[2]; p.Args != nil || p.Name != "bad" {
		t.Errorf("third: %+v", p)
	}
	for name, bad := range map[string][]byte{
		"short header": data[:8],
		"short desc":   note("stapsdt", 3, make([]byte, 16)),
		"no strings":   note("stapsdt", 3, make([]byte, 24)),
		"truncated":    stapsdt(1, 2, 3, "a", "b", "")[:30],
	} {
		if _, err := ParseNotes(bad, binary.LittleEndian); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseArg(f *testing.F) {
	for _, s := range []string{"-4@%eax", "8@-8(%rbp)", "-4@$5", "1@16(%rax,%rdx,8)", "-4@x(%rip)", "8@(,%rcx,4)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseArg(s)
		if err != nil {
			return
		}
		if a.Size != 1 && a.Size != 2 && a.Size != 4 && a.Size != 8 || a.Kind < ArgConst || a.Kind > ArgGlobal {
			t.Fatalf("%q: %+v", s, a)
		}
		if a.Kind == ArgMem && a.Index != 0 && a.Scale != 1 && a.Scale != 2 && a.Scale != 4 && a.Scale != 8 {
			t.Fatalf("%q: scale %d", s, a.Scale)
		}
	})
}

func FuzzParseNotes(f *testing.F) {
	f.Add(stapsdt(0x1130, 0x2004, 0, "libc", "setjmp", "8@%rdi -4@%esi"))
	f.Add(append(note("GNU", 1, []byte{1, 2, 3}), stapsdt(1, 2, 3, "p", "n", "-4@$5")...))
	f.Fuzz(func(t *testing.T, data []byte) {
		probes, _ := ParseNotes(data, binary.LittleEndian)
		if len(probes)*36 > len(data) {
			t.Fatalf("%d probes from %d bytes", len(probes), len(data))
		}
	})
}

// The probes of a program built with <sys/sdt.h>.
func TestReadGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		t.Fatal(err)
	}
	probes, err := Read(ef)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Probe{}
	for _, p := range probes {
		if p.Provider != "kscope" {
			t.Errorf("provider %q", p.Provider)
		}
		byName[p.Name] = p
		// A probe site is a NOP.
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, int64(p.Offset)); err != nil || b[0] != 0x90 {
			t.Errorf("%s: byte %#x at %#x, want NOP", p.Name, b[0], p.Offset)
		}
		if p.Args == nil && p.ArgSpec != "" {
			t.Errorf("%s: args %q unparsed", p.Name, p.ArgSpec)
		}
	}
	want := map[string]int{"sized": 5, "mem": 2, "indexed": 1, "str": 2, "konst": 1, "global": 1, "guarded": 1}
	for name, n := range want {
		if p, ok := byName[name]; !ok || len(p.Args) != n {
			t.Errorf("%s: %+v", name, p)
		}
	}
	if len(byName) != len(want) {
		t.Errorf("probes %v", probes)
	}
	g := byName["guarded"]
	syms, _ := ef.Symbols()
	var semAddr uint64
	for _, s := range syms {
		if s.Name == "kscope_guarded_semaphore" {
			semAddr = s.Value
		}
	}
	if g.Semaphore == 0 || g.Semaphore != semAddr || g.SemaphoreOffset == 0 {
		t.Errorf("guarded semaphore %#x (offset %#x), symbol at %#x", g.Semaphore, g.SemaphoreOffset, semAddr)
	}
	for name, p := range byName {
		if name != "guarded" && p.Semaphore != 0 {
			t.Errorf("%s has a semaphore", name)
		}
	}
	if a := byName["mem"].Args; a[0].Kind != ArgMem || a[0].Reg != reg("rbp") || !a[0].Signed || a[0].Size != 8 {
		t.Errorf("mem: %+v", a)
	}
	if a := byName["indexed"].Args[0]; a.Kind != ArgMem || a.Index == 0 || a.Scale != 2 || a.Size != 2 || !a.Signed {
		t.Errorf("indexed: %+v", a)
	}
	var counter uint64
	for _, s := range syms {
		if s.Name == "global_counter" {
			counter = s.Value
		}
	}
	if a := byName["global"].Args[0]; a.Kind != ArgGlobal || uint64(int64(byName["global"].PC)+a.Value) != counter {
		t.Errorf("global: %+v, pc %#x, global_counter at %#x", a, byName["global"].PC, counter)
	}
}

// A file whose notes were written for other addresses than its
// .stapsdt.base has (as after prelinking) gets pc and semaphore moved by
// the difference.
func TestStapsdtBaseGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	want, err := Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	sec := ef.Section(".note.stapsdt")
	off := sec.Offset
	ef.Close()
	// Rewrite every note as if linked 0x10000 lower.
	const delta = 0x10000
	notes := data[off : off+sec.Size]
	for len(notes) >= 12 {
		namesz := binary.LittleEndian.Uint32(notes)
		descsz := binary.LittleEndian.Uint32(notes[4:])
		desc := notes[12+(namesz+3)&^3:]
		for i := 0; i < 3; i++ {
			if v := binary.LittleEndian.Uint64(desc[8*i:]); v != 0 {
				binary.LittleEndian.PutUint64(desc[8*i:], v-delta)
			}
		}
		notes = notes[12+(namesz+3)&^3+(descsz+3)&^3:]
	}
	moved := t.TempDir() + "/moved"
	if err := os.WriteFile(moved, data, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Open(moved)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d probes, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].PC != want[i].PC || got[i].Semaphore != want[i].Semaphore || got[i].Offset != want[i].Offset || got[i].Base != want[i].Base-delta {
			t.Errorf("probe %s: pc %#x sem %#x base %#x, want pc %#x sem %#x", &got[i], got[i].PC, got[i].Semaphore, got[i].Base, want[i].PC, want[i].Semaphore)
		}
	}
}
