package usdt

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// att prints a parsed argument back as SIZE@OPERAND in AT&T syntax.
func att(a Arg) string {
	size := a.Size
	if a.Signed {
		size = -size
	}
	var op string
	switch a.Kind {
	case ArgConst:
		op = fmt.Sprintf("$%d", a.Value)
	case ArgReg:
		op = "%" + a.Reg.String()
	case ArgMem:
		var inner string
		if a.Reg != 0 {
			inner = "%" + a.Reg.String()
		}
		if a.Index != 0 {
			inner += fmt.Sprintf(",%%%s,%d", a.Index, a.Scale)
		}
		op = fmt.Sprintf("%d(%s)", a.Value, inner)
	case ArgGlobal:
		op = fmt.Sprintf("%s%+d(%%rip)", a.Symbol, a.Value)
	}
	return fmt.Sprintf("%d@%s", size, op)
}

// FuzzParseArgs checks a note's argument list: each argument parses as it
// does alone, and prints back (att) to an argument list that parses to the
// same arguments.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"8@%rdi -4@%esi", "-4@$5 8@-8(%rbp) 1@16(%rax,%rdx,8)", "-4@x(%rip) 8@y+8(%rip)", "8@(,%rcx,4)",
		"-2@%ax 2@$0xffff -8@$-9223372036854775808", strings.Repeat("8@%rax ", 13), "", "4@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := ParseArgs(s)
		if err != nil {
			return
		}
		fields := strings.Fields(s)
		if len(args) != len(fields) || len(args) > maxArgs {
			t.Fatalf("%q: %d arguments from %d fields", s, len(args), len(fields))
		}
		printed := make([]string, len(args))
		for i, a := range args {
			if one, err := ParseArg(fields[i]); err != nil || one != a {
				t.Fatalf("%q argument %d: %+v, alone %+v, %v", s, i+1, a, one, err)
			}
			printed[i] = att(a)
		}
		back, err := ParseArgs(strings.Join(printed, " "))
		if err != nil {
			t.Fatalf("%q printed as %q: %v", s, printed, err)
		}
		for i := range back {
			back[i].Spec = args[i].Spec
			if back[i] != args[i] {
				t.Fatalf("%q argument %d: %+v printed as %q parses back as %+v", s, i+1, args[i], printed[i], back[i])
			}
		}
	})
}

// FuzzRead reads the probes of (mutated) ELF files, starting from a real
// program with USDT probes: no panic, and every probe it places lies in an
// executable segment at the file offset that segment gives, with one
// parsed argument per field of its argument list.
func FuzzRead(f *testing.F) {
	bin := testutil.BuildC(f, "gcc", testutil.USDTProgram, "-O2", "-g0")
	data, err := os.ReadFile(bin)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		probes, _ := Read(ef)
		for _, p := range probes {
			if p.Args != nil && len(p.Args) != len(strings.Fields(p.ArgSpec)) {
				t.Fatalf("probe %s: %d arguments from %q", &p, len(p.Args), p.ArgSpec)
			}
			if p.Offset == 0 {
				continue
			}
			placed := false
			for _, s := range ef.Progs {
				if s.Type == elf.PT_LOAD && s.Flags&elf.PF_X != 0 && p.PC >= s.Vaddr && p.PC-s.Vaddr < s.Filesz {
					placed = p.Offset == p.PC-s.Vaddr+s.Off
					break
				}
			}
			if !placed {
				t.Fatalf("probe %s at %#x: offset %#x in no executable segment", &p, p.PC, p.Offset)
			}
		}
	})
}
