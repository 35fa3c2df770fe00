package codegen

import (
	"errors"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/probe/parse"
	"github.com/kscope/kscope/internal/usdt"
)

// testUSDT has two sites of app:req, whose arguments are in different
// places, and app:konst.
func testUSDT(binary, provider, name string) ([]USDTSite, error) {
	args := func(spec string) []usdt.Arg {
		a, err := usdt.ParseArgs(spec)
		if err != nil {
			panic(err)
		}
		return a
	}
	all := []USDTSite{
		{Binary: "/bin/app", Path: "/bin/app", Provider: "app", Name: "req", Offset: 0x1000, SemaphoreOffset: 0x4010, Args: args("-4@%eax 8@-8(%rbp,%rcx,4)")},
		{Binary: "/bin/app", Path: "/bin/app", Provider: "app", Name: "req", Offset: 0x2000, SemaphoreOffset: 0x4010, Args: args("-4@-12(%rsp) 1@%sil")},
		{Binary: "/bin/app", Path: "/bin/app", Provider: "app", Name: "konst", Offset: 0x3000, Args: args("-8@$-5")},
	}
	var out []USDTSite
	for _, s := range all {
		if binary == s.Binary && (provider == "*" || provider == s.Provider) && (name == "*" || name == s.Name) {
			out = append(out, s)
		}
	}
	return out, nil
}

func compileUSDT(t *testing.T, src string) (*Object, error) {
	t.Helper()
	prog, err := parse.Parse("t.bt", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	info, err := check.Check("t.bt", []byte(src), prog, &check.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return Compile(prog, info, Options{USDT: testUSDT, File: "t.bt", Source: []byte(src)})
}

// Every site of a probe gets its own program reading the arguments where
// that site's spec says they are, cut to their size and sign-extended.
func TestUSDTArguments(t *testing.T) {
	obj, err := compileUSDT(t, `usdt:/bin/app:app:req { @a = sum(arg0); @b = sum(arg1); } usdt:/bin/app:konst { @k = sum(arg0); }`)
	if err != nil {
		t.Fatal(err)
	}
	if len(obj.Probes) != 3 {
		t.Fatalf("%d programs, want 3 (one per site)", len(obj.Probes))
	}
	for i, want := range []struct {
		name     string
		off, sem uint64
		insns    []string
	}{
		{"usdt:/bin/app:app:req", 0x1000, 0x4010, []string{
			"LdXMemDW dst: r0 src: r6 off: 80 imm: 0\nLShImm dst: r0 imm: 32\nArShImm dst: r0 imm: 32", // -4@%eax
			"LdXMemDW dst: r3 src: r6 off: 32 imm: 0\nLdXMemDW dst: r1 src: r6 off: 88 imm: 0\nMulImm dst: r1 imm: 4\nAddReg dst: r3 src: r1\nLdImmDW dst: r1 imm: -8\nAddReg dst: r3 src: r1",
			"MovImm dst: r2 imm: 8\nCall FnProbeReadUser",
		}},
		{"usdt:/bin/app:app:req", 0x2000, 0x4010, []string{
			"LdXMemDW dst: r3 src: r6 off: 152 imm: 0\nLdImmDW dst: r1 imm: -12\nAddReg dst: r3 src: r1", // -12(%rsp)
			"MovImm dst: r2 imm: 4\nCall FnProbeReadUser",
			"LdXMemDW dst: r0 src: r6 off: 104 imm: 0\nLShImm dst: r0 imm: 56\nRShImm dst: r0 imm: 56", // 1@%sil
		}},
		{"usdt:/bin/app:app:konst", 0x3000, 0, []string{"LdImmDW dst: r0 imm: -5\n"}},
	} {
		p := obj.Probes[i]
		if p.Name != want.name || p.Provider != "usdt" || p.Offset != want.off || p.RefCtrOffset != want.sem || p.Path != "/bin/app" {
			t.Errorf("probe %d: %+v, want %s at %#x, semaphore %#x", i, p, want.name, want.off, want.sem)
		}
		got := listing(obj.Spec.Programs[p.Program].Instructions)
		for _, w := range want.insns {
			if !strings.Contains(got, w) {
				t.Errorf("probe %d: missing\n%s\nin\n%s", i, w, got)
			}
		}
	}
}

func TestUSDTErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`usdt:/bin/app:konst { @ = arg1; }`, "t.bt:1:27: arg1: usdt:/bin/app:app:konst has 1 arguments"},
		{`usdt:/bin/app:app:nope { }`, "t.bt:1:1: no USDT probe matches usdt:/bin/app:app:nope"},
	} {
		_, err := compileUSDT(t, tc.src)
		var list ast.ErrorList
		if !errors.As(err, &list) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\ngot  %v\nwant %s", tc.src, err, tc.want)
		}
	}
}
