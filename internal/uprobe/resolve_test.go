package uprobe

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/kscope/kscope/internal/testutil"
	"golang.org/x/arch/x86/x86asm"
)

const self = "github.com/kscope/kscope/internal/uprobe."

//go:noinline
func goAdd(a, b int) int { return a + b }

// goSign has several returns and a frame (it calls), so a stack check.
//
//go:noinline
func goSign(x int) int {
	if x < 0 {
		return -1
	}
	if x == 0 {
		return goAdd(x, 0)
	}
	return goAdd(1, 0)
}

func fileBytes(t *testing.T, path string, off uint64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, int64(off)); err != nil {
		t.Fatal(err)
	}
	return b
}

// The test binary's own Go functions: the file bytes at Offset are the
// code running in this process at the function's address.
func TestResolveGoSelf(t *testing.T) {
	for _, fn := range []any{goAdd, goSign} {
		name := self + map[uintptr]string{reflect.ValueOf(goAdd).Pointer(): "goAdd", reflect.ValueOf(goSign).Pointer(): "goSign"}[reflect.ValueOf(fn).Pointer()]
		tg, err := Resolve(os.Args[0]+":"+name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !tg.Go || tg.Name != name || tg.Size == 0 {
			t.Errorf("%s: got %+v", name, tg)
		}
		mem := unsafe.Slice((*byte)(unsafe.Pointer(reflect.ValueOf(fn).Pointer())), 16)
		if got := fileBytes(t, tg.Path, tg.Offset, 16); string(got) != string(mem) {
			t.Errorf("%s: file bytes at %#x %x, code in memory %x", name, tg.Offset, got, mem)
		}
	}
}

func TestGoReturnOffsets(t *testing.T) {
	tg, err := Resolve(os.Args[0]+":"+self+"goSign", 0)
	if err != nil {
		t.Fatal(err)
	}
	rets, err := tg.ReturnOffsets()
	if err != nil {
		t.Fatal(err)
	}
	if len(rets) < 2 {
		t.Fatalf("want at least 2 RETs in goSign, got %v", rets)
	}
	for _, r := range rets {
		if r < tg.Offset || r >= tg.Offset+tg.Size {
			t.Errorf("RET at %#x outside [%#x, %#x)", r, tg.Offset, tg.Offset+tg.Size)
		}
		if b := fileBytes(t, tg.Path, r, 1); b[0] != 0xc3 {
			t.Errorf("byte at %#x is %#x, not RET", r, b[0])
		}
	}
}

// goSign calls, so it checks the stack bound; EntryOffset is right after
// the conditional jump to morestack.
func TestGoEntryOffset(t *testing.T) {
	tg, err := Resolve(os.Args[0]+":"+self+"goSign", 0)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := tg.EntryOffset()
	if err != nil {
		t.Fatal(err)
	}
	if entry <= tg.Offset || entry > tg.Offset+32 {
		t.Fatalf("entry %#x, function at %#x", entry, tg.Offset)
	}
	code := fileBytes(t, tg.Path, tg.Offset, int(entry-tg.Offset))
	var last x86asm.Inst
	for pc := 0; pc < len(code); {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil {
			t.Fatal(err)
		}
		last = inst
		pc += inst.Len
		if pc > len(code) {
			t.Fatalf("entry %#x inside an instruction", entry)
		}
	}
	if !isCondJump(last.Op) {
		t.Errorf("instruction before the body is %v, want a conditional jump", last)
	}
	// Not Go: the entry itself.
	c := *tg
	c.Go = false
	if e, _ := c.EntryOffset(); e != tg.Offset {
		t.Errorf("non-Go entry %#x, want %#x", e, tg.Offset)
	}
}

func TestResolveErrors(t *testing.T) {
	_, err := Resolve("/nonexistent/prog:main", 0)
	if !errors.Is(err, ErrNoBinary) {
		t.Errorf("missing binary: %v", err)
	}
	_, err = Resolve("libnosuchlibrary:foo", 0)
	if !errors.Is(err, ErrNoBinary) || !strings.Contains(err.Error(), "ld.so.cache") {
		t.Errorf("missing library: %v", err)
	}
	_, err = Resolve(os.Args[0]+":"+self+"goAd", 0)
	if !errors.Is(err, ErrNoSymbol) || !strings.Contains(err.Error(), `did you mean "`+self+`goAdd"`) {
		t.Errorf("missing symbol: %v", err)
	}
	// A substring finds the full name.
	_, err = Resolve(os.Args[0]+":goSign", 0)
	if !errors.Is(err, ErrNoSymbol) || !strings.Contains(err.Error(), self+"goSign") {
		t.Errorf("short Go name: %v", err)
	}
	_, err = Resolve(os.Args[0], 0)
	if err == nil || !strings.Contains(err.Error(), "BINARY:SYMBOL") {
		t.Errorf("no symbol: %v", err)
	}
	notELF := t.TempDir() + "/notelf"
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	_, err = Resolve(notELF+":foo", 0)
	if err == nil || !strings.Contains(err.Error(), "not an ELF file") {
		t.Errorf("not ELF: %v", err)
	}
}

func TestSplitSpec(t *testing.T) {
	for _, c := range []struct{ in, bin, sym string }{
		{"/bin/x:main", "/bin/x", "main"},
		{"libssl.so.3:SSL_write", "libssl.so.3", "SSL_write"},
		{"./a.out:ns::K::f", "./a.out", "ns::K::f"},
		{":main.f", "", "main.f"},
		{"bin:ns::f(int)", "bin", "ns::f(int)"},
	} {
		bin, sym, ok := splitSpec(c.in)
		if !ok || bin != c.bin || sym != c.sym {
			t.Errorf("%q: got %q %q %v", c.in, bin, sym, ok)
		}
	}
	for _, bad := range []string{"nocolon", "bin:", "ns::f"} {
		if _, _, ok := splitSpec(bad); ok {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "abc", 0}, {"abc", "abd", 1}, {"SSL_write", "SSL_read", 4}, {"goAd", "goAdd", 1}, {"kitten", "sitting", 3}} {
		if got := editDistance(c.a, c.b, 10); got != c.d {
			t.Errorf("%q %q: %d, want %d", c.a, c.b, got, c.d)
		}
	}
	if got := editDistance("aaaaaaaa", "bbbbbbbb", 2); got != 3 {
		t.Errorf("bounded: %d, want 3", got)
	}
}

const cSrc = `
#include <stdio.h>
__attribute__((noinline)) int c_add(int a, int b) { return a + b; }
__attribute__((noinline)) static int c_static(int x) { return x * 2; }
int c_caller(int x) { return c_static(x) + 1; }
int main(int argc, char **argv) { printf("%d\n", c_caller(argc) + c_add(argc, 1)); return 0; }
`

// A C function in fixed-address and position-independent executables: the
// linker's default layouts put the first PT_LOAD at file offset 0, at
// 0x400000 and 0 respectively.
func TestResolveCGCC(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		base uint64
	}{{"no-pie", []string{"-O1", "-no-pie"}, 0x400000}, {"pie", []string{"-O1", "-fPIE", "-pie"}, 0}} {
		t.Run(c.name, func(t *testing.T) {
			bin := testutil.BuildC(t, "gcc", cSrc, c.args...)
			for _, sym := range []string{"c_add", "c_caller", "c_static", "main"} {
				tg, err := Resolve(bin+":"+sym, 0)
				if err != nil {
					t.Fatal(err)
				}
				if tg.Go || tg.Size == 0 || tg.Offset != tg.Address-c.base {
					t.Errorf("%s: %+v", sym, tg)
				}
				if _, err := tg.ReturnOffsets(); err != nil {
					t.Errorf("%s: %v", sym, err)
				}
			}
			if _, err := Resolve(bin+":c_ad", 0); !errors.Is(err, ErrNoSymbol) || !strings.Contains(err.Error(), `"c_add"`) {
				t.Errorf("suggestion: %v", err)
			}
			// By address, as objdump prints it.
			tg, _ := Resolve(bin+":c_add", 0)
			byAddr, err := Resolve(fmt.Sprintf("%s:%#x", bin, tg.Address), 0)
			if err != nil || byAddr.Offset != tg.Offset || byAddr.Name != "c_add" {
				t.Errorf("by address: %+v %v", byAddr, err)
			}
		})
	}
}

const cppSrc = `
#include <cstdio>
namespace ns {
struct Klass {
	int v;
	__attribute__((noinline)) int add(int a) const { return v + a; }
};
__attribute__((noinline)) int over(int x) { return x + 1; }
__attribute__((noinline)) int over(double x) { return (int)x + 2; }
}
int main(int argc, char **) {
	ns::Klass k{argc};
	std::printf("%d %d %d\n", k.add(argc), ns::over(argc), ns::over(argc * 1.5));
	return 0;
}
`

func TestResolveCPlusPlusGCC(t *testing.T) {
	bin := testutil.BuildC(t, "g++", cppSrc, "-O1")
	tg, err := Resolve(bin+":ns::Klass::add", 0)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Symbol != "_ZNK2ns5Klass3addEi" || tg.Name != "ns::Klass::add(int) const" {
		t.Errorf("got symbol %q name %q", tg.Symbol, tg.Name)
	}
	for _, name := range []string{"_ZNK2ns5Klass3addEi", "ns::Klass::add(int) const"} {
		if o, err := Resolve(bin+":"+name, 0); err != nil || o.Offset != tg.Offset {
			t.Errorf("%s: %+v %v", name, o, err)
		}
	}
	_, err = Resolve(bin+":ns::over", 0)
	if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), "ns::over(int)") || !strings.Contains(err.Error(), "ns::over(double)") {
		t.Errorf("overloads: %v", err)
	}
	d, err := Resolve(bin+":ns::over(double)", 0)
	if err != nil || d.Symbol != "_ZN2ns4overEd" {
		t.Errorf("ns::over(double): %+v %v", d, err)
	}
	_, err = Resolve(bin+":ns::Klass::ad", 0)
	if !errors.Is(err, ErrNoSymbol) || !strings.Contains(err.Error(), `"ns::Klass::add"`) {
		t.Errorf("suggestion: %v", err)
	}
}

const goProg = `package main

import "os"

//go:noinline
func work(a, b int) int { return a*b + len(os.Args) }

func main() { println(work(len(os.Args), 3)) }
`

// A Go binary stripped of its symbol table and DWARF keeps .gopclntab.
func TestResolveStrippedGoBuild(t *testing.T) {
	full := testutil.BuildGo(t, goProg)
	stripped := testutil.BuildGo(t, goProg, "-ldflags=-s -w")
	ef, err := elf.Open(stripped)
	if err != nil {
		t.Fatal(err)
	}
	if syms, _ := ef.Symbols(); len(syms) != 0 {
		t.Fatalf("stripped binary has %d symbols", len(syms))
	}
	ef.Close()
	a, err := Resolve(full+":main.work", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Resolve(stripped+":main.work", 0)
	if err != nil {
		t.Fatal(err)
	}
	// pclntab's extent includes the padding after the code .symtab sizes.
	if !b.Go || b.Size < a.Size || b.Address != a.Address || b.Offset != a.Offset {
		t.Errorf("stripped %+v, full %+v", *b, *a)
	}
	if _, err := b.ReturnOffsets(); err != nil {
		t.Error(err)
	}
}

// Libraries by name, from the ldconfig cache and from a process's maps.
func TestFindLibraryGCC(t *testing.T) {
	bin := testutil.BuildC(t, "gcc", `#include <unistd.h>
int main(void) { pause(); return 0; }`)
	libc, _, err := FindBinary("libc.so.6", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"libc", "libc.so"} {
		if got, _, err := FindBinary(name, 0); err != nil || got != libc {
			t.Errorf("%s: %q %v, want %q", name, got, err, libc)
		}
	}
	tg, err := Resolve("libc:getpid", 0)
	if err != nil || tg.Go || tg.Binary != libc {
		t.Fatalf("libc:getpid: %+v %v", tg, err)
	}
	cmd := exec.Command(bin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	// Wait for the dynamic loader to map libc.
	for i := 0; i < 200; i++ {
		if libs, _ := MappedLibraries(pid); len(libs) > 2 {
			break
		}
		sleep()
	}
	p, err := Resolve("libc:getpid", pid)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Path, "/proc/") || !strings.HasSuffix(p.Path, p.Binary) || p.Offset != tg.Offset {
		t.Errorf("with pid: %+v, without: %+v", p, tg)
	}
	exe, err := ResolveSymbol("", "main", pid)
	if err != nil || exe.Binary != bin {
		t.Errorf("the process's executable: %+v %v", exe, err)
	}
	if _, err := Resolve("libnosuch:foo", pid); !errors.Is(err, ErrNoBinary) {
		t.Errorf("unmapped library: %v", err)
	}
}

func sleep() { time.Sleep(10 * time.Millisecond) }
