package symbolize

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// testSym is a function symbol for testIndex.
type testSym struct {
	addr  uint64
	size  uint32
	name  string
	bind  int // 0 global, 1 weak, 2 local
	table int
}

// testIndex builds a symbol index over in-memory string tables, as
// loadFile does over a file's.
func testIndex(syms []testSym) symIndex {
	var x symIndex
	var strs [1 << strtabBits][]byte
	for i := range strs {
		strs[i] = []byte{0}
	}
	var fs []funcSym
	for _, s := range syms {
		off := len(strs[s.table])
		strs[s.table] = append(append(strs[s.table], s.name...), 0)
		fs = append(fs, funcSym{addr: s.addr, size: s.size | uint32(s.bind)<<rankShift, name: uint32(s.table)<<nameBits | uint32(off)})
	}
	for i := range strs {
		x.strs[i] = region{r: bytes.NewReader(strs[i]), size: int64(len(strs[i]))}
	}
	x.syms = buildIndex(fs, &x.strs)
	return x
}

func loadBytes(t testing.TB, data []byte) *fileTable {
	t.Helper()
	tab, err := loadFile(bytes.NewReader(data), "")
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// TestSymtabAliases reads synthetic files: ELF64 and ELF32, little- and
// big-endian, .symtab and .dynsym, aliases at one address ranked as
// perf and pprof show them, sizeless symbols, and what is not a defined
// function left out.
func TestSymtabAliases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		class elf.Class
		order testOrder
	}{
		{"elf64-le", elf.ELFCLASS64, binary.LittleEndian},
		{"elf32-le", elf.ELFCLASS32, binary.LittleEndian},
		{"elf64-be", elf.ELFCLASS64, binary.BigEndian},
		{"elf32-be", elf.ELFCLASS32, binary.BigEndian},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testELF{class: tc.class, order: tc.order, base: 0x10000, text: 0x400}
			a := e.textAddr()
			fn := func(name string, off, size uint64, bind elf.SymBind) testELFSym {
				return testELFSym{name: name, value: a + off, size: size, typ: elf.STT_FUNC, bind: bind}
			}
			e.syms = []testELFSym{
				fn("__getpid", 0x10, 0x10, elf.STB_GLOBAL),
				fn("getpid", 0x10, 0x10, elf.STB_WEAK), // fewer underscores wins over global
				fn("local_a", 0x20, 0x8, elf.STB_LOCAL),
				fn("global_a", 0x20, 0x8, elf.STB_GLOBAL), // global over local
				fn("small", 0x30, 0x4, elf.STB_GLOBAL),
				fn("large", 0x30, 0x10, elf.STB_GLOBAL), // larger
				fn("bb", 0x40, 0x8, elf.STB_GLOBAL),
				fn("ccc", 0x40, 0x8, elf.STB_GLOBAL), // shorter first
				fn("b", 0x48, 0x8, elf.STB_GLOBAL),
				fn("a", 0x48, 0x8, elf.STB_GLOBAL), // alphabetical
				fn("sizeless", 0x60, 0, elf.STB_GLOBAL),
				fn("_ZN2ns5Klass6methodEi", 0x80, 0x10, elf.STB_GLOBAL),
				{name: "data", value: a + 0x90, size: 8, typ: elf.STT_OBJECT},
				{name: "undefined", value: a + 0xa0, size: 8, typ: elf.STT_FUNC, undef: true},
				{name: "zero", value: 0, size: 8, typ: elf.STT_FUNC},
				{value: a + 0xb0, size: 8, typ: elf.STT_FUNC}, // no name
				{name: "ifunc", value: a + 0xc0, size: 8, typ: elf.STT_GNU_IFUNC},
				fn("last_sizeless", 0x200, 0, elf.STB_GLOBAL),
			}
			e.dynsyms = []testELFSym{
				fn("getpid", 0x10, 0x10, elf.STB_GLOBAL), // in both tables
				fn("memcpy@@GLIBC_2.14", 0x100, 0x20, elf.STB_GLOBAL),
			}
			tab := loadBytes(t, e.bytes())
			if tab.goTab != nil {
				t.Error("Go table in a C file")
			}
			for _, c := range []struct {
				off  uint64
				want string
			}{
				{0x0f, ""},
				{0x10, "getpid"},
				{0x1f, "getpid"},
				{0x20, "global_a"},
				{0x28, ""},
				{0x30, "large"},
				{0x3f, "large"},
				{0x40, "bb"},
				{0x48, "a"},
				{0x60, "sizeless"},
				{0x7f, "sizeless"}, // up to the next symbol
				{0x80, "ns::Klass::method"},
				{0x90, "ns::Klass::method"}, // data is no function: the previous one's range, ended
				{0xa0, ""},
				{0xb0, ""},
				{0xc4, "ifunc"},
				{0x100, "memcpy"},
				{0x200 + 0xfff, "last_sizeless"}, // a page at most
				{0x200 + 0x1000, ""},
			} {
				var f Frame
				tab.lookup(a+c.off, &f)
				if c.off == 0x90 {
					c.want = "" // 0x80+0x10: past the method's end
				}
				if f.Function != c.want {
					t.Errorf("lookup(+%#x) = %q, want %q", c.off, f.Function, c.want)
				}
			}
			if n := len(tab.syms.syms); n != 10 {
				t.Errorf("%d symbols indexed, want 10", n)
			}
		})
	}
}

// TestSymtabMatchesDebugElf indexes real files as funcSymbolsRef (the
// eager reader built on debug/elf) does: same addresses, sizes and names.
func TestSymtabMatchesDebugElf(t *testing.T) {
	files := map[string]string{"test binary": os.Args[0]}
	// Reference files of the CI image (libc6, libstdc++6 with g++, bash);
	// a missing one is a named skip, a failure in CI.
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/bin/bash"} {
		files[filepath.Base(p)] = p
	}
	for name, path := range goBinaries(t) {
		files[name] = path
	}
	for name, path := range files {
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat(path); err != nil {
				testutil.Skip(t, path+" (a reference ELF file)", err)
			}
			ef, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ef.Close()
			syms, _ := ef.Symbols()
			dyn, _ := ef.DynamicSymbols()
			want := funcSymbolsRef(append(syms, dyn...))

			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var x symIndex
			var got []funcSym
			for i, typ := range []elf.SectionType{elf.SHT_SYMTAB, elf.SHT_DYNSYM} {
				st, ok := symtabOf(ef, f, typ, i)
				if !ok {
					continue
				}
				x.strs[i] = st.strs
				n, err := st.countFuncs(addrRange{})
				if err != nil {
					t.Fatal(err)
				}
				before := len(got)
				if got, err = st.funcs(got, addrRange{}); err != nil {
					t.Fatal(err)
				}
				if len(got)-before != n {
					t.Fatalf("counted %d, read %d", n, len(got)-before)
				}
			}
			x.syms = buildIndex(got, &x.strs)
			if len(x.syms) != len(want) {
				t.Fatalf("%d symbols, want %d", len(x.syms), len(want))
			}
			for i, w := range want {
				s := x.syms[i]
				name, err := x.name(i)
				if err != nil {
					t.Fatal(err)
				}
				if s.addr != w.addr || uint64(s.size) != min(w.size, maxSymSize) || name != w.name {
					t.Fatalf("symbol %d: %#x+%#x %s, want %#x+%#x %s", i, s.addr, s.size, name, w.addr, w.size, w.name)
				}
			}
			t.Logf("%d symbols, %d bytes", len(x.syms), x.bytes())
		})
	}
}

type refSym struct {
	addr, size uint64
	name       string
}

// funcSymbolsRef is the eager reference: every symbol read by debug/elf,
// sorted, one per address, demangled.
func funcSymbolsRef(in []elf.Symbol) []refSym {
	type cand struct {
		elf.Symbol
		rank int
	}
	var cs []cand
	for _, s := range in {
		typ := elf.ST_TYPE(s.Info)
		if (typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC) || s.Section == elf.SHN_UNDEF || s.Value == 0 || s.Name == "" {
			continue
		}
		cs = append(cs, cand{Symbol: s, rank: bindRank(elf.ST_BIND(s.Info))})
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := &cs[i], &cs[j]
		if a.Value != b.Value {
			return a.Value < b.Value
		}
		if ua, ub := underscores([]byte(a.Name)), underscores([]byte(b.Name)); ua != ub {
			return ua < ub
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.Size != b.Size {
			return a.Size > b.Size
		}
		if len(a.Name) != len(b.Name) {
			return len(a.Name) < len(b.Name)
		}
		return a.Name < b.Name
	})
	var out []refSym
	for i := range cs {
		if i > 0 && cs[i].Value == cs[i-1].Value {
			continue
		}
		out = append(out, refSym{addr: cs[i].Value, size: cs[i].Size, name: demangleName(cs[i].Name)})
	}
	for i := range out {
		if out[i].size == 0 {
			if i+1 < len(out) {
				out[i].size = out[i+1].addr - out[i].addr
			} else {
				out[i].size = 1 << 12
			}
		}
	}
	return out
}

func FuzzLoadFile(f *testing.F) {
	a := testELF{class: elf.ELFCLASS64, order: binary.LittleEndian, base: 0x400000, text: 0x40}
	ta := a.textAddr()
	a.syms = []testELFSym{{name: "f", value: ta, size: 8, typ: elf.STT_FUNC}, {name: "g", value: ta, typ: elf.STT_FUNC, bind: elf.STB_WEAK}}
	a.dynsyms = []testELFSym{{name: "h", value: ta + 0x10, size: 8, typ: elf.STT_FUNC}}
	f.Add(a.bytes(), uint16(0))
	b := testELF{class: elf.ELFCLASS32, order: binary.BigEndian, text: 0x20}
	b.syms = []testELFSym{{name: "_ZN2ns5Klass6methodEi", value: b.textAddr(), size: 4, typ: elf.STT_FUNC}}
	f.Add(b.bytes(), uint16(4))
	g := testELF{class: elf.ELFCLASS64, order: binary.LittleEndian, base: 0x400000, text: 0x40}
	g.pclntab = smallPclntab(binary.LittleEndian, 8, 1).bytes()
	g.syms = []testELFSym{{name: "runtime.text", value: g.textAddr(), typ: elf.STT_FUNC}}
	f.Add(g.bytes(), uint16(8))
	f.Fuzz(func(t *testing.T, data []byte, off uint16) {
		tab, err := loadFile(bytes.NewReader(data), "")
		if tab == nil {
			if err == nil {
				t.Fatal("no table and no error")
			}
			return
		}
		if len(tab.syms.syms) > len(data)/16 {
			t.Fatalf("%d symbols from %d bytes", len(tab.syms.syms), len(data))
		}
		for _, l := range tab.loads {
			var fr Frame
			tab.lookup(l.vaddr+uint64(off), &fr)
		}
		for i := range tab.syms.syms {
			var fr Frame
			tab.lookup(tab.syms.syms[i].addr, &fr)
		}
	})
}

// TestGoFileWithSymbols finds runtime.text through the symbol table, and
// answers Go pcs from the pclntab, C ones from the symbols.
func TestGoFileWithSymbols(t *testing.T) {
	e := testELF{class: elf.ELFCLASS64, order: binary.LittleEndian, base: 0x400000, text: 0x100}
	ta := e.textAddr()
	e.pclntab = smallPclntab(binary.LittleEndian, 8, 1).bytes()
	e.syms = []testELFSym{
		{name: "runtime.text", value: ta + 0x10, typ: elf.STT_FUNC, bind: elf.STB_LOCAL},
		{name: "main.a", value: ta + 0x10, size: 8, typ: elf.STT_FUNC},
		{name: "c_code", value: ta + 0x80, size: 0x10, typ: elf.STT_FUNC},
	}
	tab := loadBytes(t, e.bytes())
	p, ok := tab.goTab.(*pclnReader)
	if !ok || p.text != ta+0x10 {
		t.Fatalf("Go table %T text %#x, want runtime.text %#x", tab.goTab, p.text, ta+0x10)
	}
	if n := len(tab.syms.syms); n != 1 {
		t.Errorf("%d ELF symbols kept, want 1 (c_code)", n)
	}
	for _, c := range []struct {
		pc       uint64
		fn, file string
		line     int
	}{
		{ta + 0x10, "main.a", "/src/a.go", 10},
		{ta + 0x10 + 20, "net/http.(*conn).serve", "/src/a.go", 100},
		{ta + 0x84, "c_code", "", 0},
		{ta + 0x8, "", "", 0},
	} {
		var f Frame
		tab.lookup(c.pc, &f)
		if f.Function != c.fn || f.File != c.file || f.Line != c.line {
			t.Errorf("lookup(%#x) = %+v, want %s %s:%d", c.pc, f, c.fn, c.file, c.line)
		}
	}
}

// FuzzSymtab decodes raw symbol and string tables: the first byte picks
// the ELF class and byte order, the next two where the symbols end.
func FuzzSymtab(f *testing.F) {
	seed := func(class elf.Class, order testOrder, syms []testELFSym) []byte {
		e := testELF{class: class, order: order, syms: syms}
		ef, err := elf.NewFile(bytes.NewReader(e.bytes()))
		if err != nil {
			f.Fatal(err)
		}
		st, ok := symtabOf(ef, bytes.NewReader(e.bytes()), elf.SHT_SYMTAB, strSymtab)
		if !ok {
			f.Fatal("no symtab")
		}
		data := e.bytes()
		tab := data[st.syms.off : st.syms.off+st.syms.size]
		str := data[st.strs.off : st.strs.off+st.strs.size]
		sel := byte(0)
		if class == elf.ELFCLASS32 {
			sel |= 1
		}
		if order == binary.BigEndian {
			sel |= 2
		}
		return append(append([]byte{sel, byte(len(tab) >> 8), byte(len(tab))}, tab...), str...)
	}
	syms := []testELFSym{
		{name: "b", value: 0x1000, size: 0x10, typ: elf.STT_FUNC},
		{name: "a", value: 0x1000, size: 0x10, typ: elf.STT_FUNC, bind: elf.STB_WEAK},
		{name: "c", value: 0x1010, typ: elf.STT_FUNC},
	}
	f.Add(seed(elf.ELFCLASS64, binary.LittleEndian, syms))
	f.Add(seed(elf.ELFCLASS32, binary.BigEndian, syms))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		st := symtabSection{class: elf.ELFCLASS64, order: binary.LittleEndian}
		if data[0]&1 != 0 {
			st.class = elf.ELFCLASS32
		}
		if data[0]&2 != 0 {
			st.order = binary.BigEndian
		}
		n := min(int(data[1])<<8|int(data[2]), len(data)-3)
		r := bytes.NewReader(data)
		st.syms = region{r: r, off: 3, size: int64(n)}
		st.strs = region{r: r, off: int64(3 + n), size: int64(len(data) - 3 - n)}
		count, err := st.countFuncs(addrRange{})
		if err != nil {
			t.Fatal(err)
		}
		if count > n/16 {
			t.Fatalf("%d symbols in %d bytes", count, n)
		}
		syms, err := st.funcs(make([]funcSym, 0, count), addrRange{})
		if err != nil || len(syms) != count {
			t.Fatalf("read %d symbols (%v), counted %d", len(syms), err, count)
		}
		var x symIndex
		x.strs[strSymtab] = st.strs
		x.syms = buildIndex(syms, &x.strs)
		for i, s := range x.syms {
			if i > 0 && s.addr <= x.syms[i-1].addr {
				t.Fatal("not sorted")
			}
			if j := x.find(s.addr); j < 0 {
				t.Fatalf("symbol %d not found", i)
			}
			if name, err := x.name(i); err == nil && len(name) > 4*maxString {
				t.Fatalf("name of %d bytes", len(name))
			}
		}
	})
}
