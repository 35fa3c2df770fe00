package uprobe

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// FuzzSplitSpec checks "BINARY:SYMBOL" splitting: the parts put back
// together give the spec, the symbol is not empty, and the binary has no
// colon outside a C++ "::".
func FuzzSplitSpec(f *testing.F) {
	for _, s := range []string{"/bin/bash:readline", "libc:malloc", "prog:ns::Klass::method", "::x:y", ":sym", "bin:", "a:::b", "nocolon", "a::b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		bin, sym, ok := splitSpec(spec)
		if !ok {
			if strings.Count(strings.ReplaceAll(spec, "::", ""), ":") > 0 && !strings.HasSuffix(spec, ":") {
				t.Fatalf("%q: rejected", spec)
			}
			return
		}
		if bin+":"+sym != spec || sym == "" {
			t.Fatalf("%q: split as %q %q", spec, bin, sym)
		}
		if strings.Count(strings.ReplaceAll(bin, "::", ""), ":") != 0 {
			t.Fatalf("%q: binary %q has a lone colon", spec, bin)
		}
	})
}

// cxxProgram has mangled, overloaded and namespaced functions.
const cxxProgram = `
namespace ns { struct K { static int m(int x) { return x + 1; } }; }
__attribute__((noinline)) int over(int x) { return ns::K::m(x); }
__attribute__((noinline)) int over(long x) { return (int)x * 2; }
extern "C" __attribute__((noinline)) int plain(int x) { return over(x) + over(2L); }
int main(int argc, char **) { return plain(argc); }
`

// FuzzReadSymbols reads the function symbols of (mutated) ELF files,
// starting from a real C++ program: no panic, and every function found is
// what its address and (unless ambiguous) its name look up.
func FuzzReadSymbols(f *testing.F) {
	bin := testutil.BuildC(f, "g++", cxxProgram, "-O1", "-g0")
	data, err := os.ReadFile(bin)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		ef, err := elf.NewFile(r)
		if err != nil {
			return
		}
		tab := readSymbols(ef, r)
		for i := range tab.funcs {
			fn := &tab.funcs[i]
			if fn.addr == 0 || fn.raw == "" {
				t.Fatalf("function %+v", fn)
			}
			at, err := tab.lookup("0x" + strconv.FormatUint(fn.addr, 16))
			if err != nil || at.addr != fn.addr {
				t.Fatalf("%s at %#x: by address %+v, %v", fn.raw, fn.addr, at, err)
			}
			if strings.HasPrefix(fn.raw, "0x") {
				continue
			}
			named, err := tab.lookup(fn.raw)
			if err != nil && !errors.Is(err, ErrAmbiguous) || err == nil && named.addr != fn.addr {
				t.Fatalf("%s at %#x: by name %+v, %v", fn.raw, fn.addr, named, err)
			}
		}
	})
}
