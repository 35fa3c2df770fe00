package symbolize

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

func TestFrameString(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want string
	}{
		{Frame{Function: "do_nanosleep", Module: KernelModule, Offset: 0xffffffff81000000}, "do_nanosleep"},
		{Frame{Module: "/usr/lib/libc.so.6", Offset: 0x1a2b}, "/usr/lib/libc.so.6+0x1a2b"},
		{Frame{Module: "[vdso]"}, "[vdso]+0x0"},
		{Frame{Offset: 0xdead}, "0xdead"},
		{Frame{}, "0x0"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.f, got, tc.want)
		}
	}
}

const kallsymsFixture = `ffffffff81000000 T _stext
ffffffff81000100 t helper
ffffffff81000200 T do_nanosleep
ffffffff81000300 D some_data
ffffffff81000400 W weak_fn
ffffffffc0001000 t xfs_iget	[xfs]
ffffffffc0001100 T xfs_ilock	[xfs]
bogus line
ffffffffzz000000 T bad_addr
ffffffff81000500 TT bad_type
`

func TestParseKallsyms(t *testing.T) {
	kt := parseKallsyms([]byte(kallsymsFixture))
	if kt.restricted {
		t.Fatal("restricted")
	}
	for _, tc := range []struct {
		addr uint64
		want Frame
	}{
		{0xffffffff80ffffff, Frame{Offset: 0xffffffff80ffffff}},
		{0xffffffff81000000, Frame{Function: "_stext", Module: KernelModule, Offset: 0xffffffff81000000}},
		{0xffffffff81000208, Frame{Function: "do_nanosleep", Module: KernelModule, Offset: 0xffffffff81000208}},
		{0xffffffff81000308, Frame{Function: "do_nanosleep", Module: KernelModule, Offset: 0xffffffff81000308}}, // data skipped
		{0xffffffff81000401, Frame{Function: "weak_fn", Module: KernelModule, Offset: 0xffffffff81000401}},
		{0xffffffffc0001010, Frame{Function: "xfs_iget", Module: "[xfs]", Offset: 0xffffffffc0001010}},
		{0xffffffffc0001100, Frame{Function: "xfs_ilock", Module: "[xfs]", Offset: 0xffffffffc0001100}},
	} {
		if got := kt.lookup(tc.addr); got != tc.want {
			t.Errorf("lookup(%#x) = %+v, want %+v", tc.addr, got, tc.want)
		}
	}
	if n := kt.len(); n != 6 {
		t.Errorf("kept %d symbols, want 6", n)
	}
}

func TestKernelRestricted(t *testing.T) {
	dir := t.TempDir()
	data := "0000000000000000 T _stext\n0000000000000000 T schedule\n"
	if err := os.WriteFile(filepath.Join(dir, "kallsyms"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	s := New()
	s.procFS = dir
	got := s.Kernel([]uint64{0xffffffff81000010})
	want := []Frame{{Offset: 0xffffffff81000010}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Kernel = %+v, want %+v", got, want)
	}
	if got[0].String() != "0xffffffff81000010" {
		t.Errorf("String = %q", got[0].String())
	}
}

func TestParseMaps(t *testing.T) {
	data := `55d0c5a00000-55d0c5a01000 r--p 00000000 fd:01 1234                       /usr/bin/prog
55d0c5a01000-55d0c5a05000 r-xp 00001000 fd:01 1234                       /usr/bin/prog
7f0000000000-7f0000100000 r-xp 00028000 103:02 98765                     /tmp/my lib.so (deleted)
7f0000200000-7f0000201000 rwxp 00000000 00:00 0 
7ffd3b9f6000-7ffd3b9f8000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
garbage
10-5 r-xp 00000000 00:00 0
`
	want := []mapping{
		{start: 0x55d0c5a01000, end: 0x55d0c5a05000, offset: 0x1000, devMajor: 0xfd, devMinor: 1, inode: 1234, path: "/usr/bin/prog"},
		{start: 0x7f0000000000, end: 0x7f0000100000, offset: 0x28000, devMajor: 0x103, devMinor: 2, inode: 98765, path: "/tmp/my lib.so", deleted: true},
		{start: 0x7f0000200000, end: 0x7f0000201000},
		{start: 0x7ffd3b9f6000, end: 0x7ffd3b9f8000, path: "[vdso]"},
		{start: 0xffffffffff600000, end: 0xffffffffff601000, path: "[vsyscall]"},
	}
	got := parseMaps([]byte(data))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseMaps =\n%+v\nwant\n%+v", got, want)
	}
	for i, anon := range []bool{false, false, true, true, true} {
		if got[i].anonymous() != anon {
			t.Errorf("%s: anonymous = %v", got[i].path, !anon)
		}
	}
}

func TestFileTableLookup(t *testing.T) {
	// A PIE-like file: text at file offset 0x1000 loaded at vaddr 0x1000,
	// data at file offset 0x3000 loaded at vaddr 0x4000.
	tab := &fileTable{
		id:      tableIDs.Add(1),
		buildID: "ab",
		syms: testIndex([]testSym{
			{addr: 0x1100, size: 0x20, name: "first"},
			{addr: 0x1200, size: 0x100, name: "outer"},
			{addr: 0x1210, size: 0x10, name: "inner"},
		}),
	}
	tab.loads = append(tab.loads, loadHdr(0x1000, 0x1000, 0x1000), loadHdr(0x3000, 0x4000, 0x100))
	m := &procMapping{mapping: mapping{start: 0x7000_0000, end: 0x7000_2000, offset: 0x1000, inode: 1, path: "/lib/x.so"}, table: tab}
	for _, tc := range []struct {
		addr uint64
		want string
	}{
		{0x7000_0100, "first"},
		{0x7000_011f, "first"},
		{0x7000_0120, "/lib/x.so+0x1120"}, // past first's size: a gap
		{0x7000_0215, "inner"},
		{0x7000_0230, "outer"}, // past inner, still in outer
		{0x7000_0400, "/lib/x.so+0x1400"},
	} {
		f := m.frame(tc.addr)
		if f.String() != tc.want || f.BuildID != "ab" {
			t.Errorf("frame(%#x) = %q (%+v), want %q", tc.addr, f.String(), f, tc.want)
		}
	}
	var none *procMapping
	if got := none.frame(0x42).String(); got != "0x42" {
		t.Errorf("no mapping: %q", got)
	}
	noTable := &procMapping{mapping: mapping{start: 0x1000, end: 0x2000, offset: 0x3000, inode: 1, path: "/bin/x"}}
	if got := noTable.frame(0x1010).String(); got != "/bin/x+0x3010" {
		t.Errorf("unreadable file: %q", got)
	}
	anon := &procMapping{mapping: mapping{start: 0x1000, end: 0x2000}}
	if got := anon.frame(0x1010).String(); got != "[anon]+0x1010" {
		t.Errorf("anonymous: %q", got)
	}
}

func TestDemangleName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"_ZN2ns5Klass6methodEi", "ns::Klass::method"},
		{"_ZNSt6vectorIiSaIiEE9push_backERKi", "std::vector<int, std::allocator<int> >::push_back"},
		{"_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write"},
		{"_RNvCs1234_7mycrate3foo", "mycrate::foo"},
		{"memcpy@@GLIBC_2.14", "memcpy"},
		{"main", "main"},
		{"_Znot_mangled", "_Znot_mangled"},
	} {
		if got := demangleName(tc.in); got != tc.want {
			t.Errorf("demangleName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLRU(t *testing.T) {
	c := newLRU[int, string](2)
	c.put(1, "a")
	c.put(2, "b")
	c.get(1)
	c.put(3, "c") // evicts 2
	if _, ok := c.get(2); ok {
		t.Error("2 not evicted")
	}
	if v, _ := c.get(1); v != "a" {
		t.Error("1 evicted")
	}
	c.remove(1)
	if c.len() != 1 {
		t.Errorf("len = %d", c.len())
	}
}

func FuzzParseMaps(f *testing.F) {
	f.Add([]byte("55d0c5a01000-55d0c5a05000 r-xp 00001000 fd:01 1234 /usr/bin/prog\n"))
	f.Add([]byte("7f00-7f10 r-xp 0 00:00 0 [vdso]\n7f0000000000-7f0000100000 r-xp 00028000 103:02 98765 /tmp/a b (deleted)"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range parseMaps(data) {
			if m.end <= m.start {
				t.Fatalf("empty mapping %+v", m)
			}
			p := &procMapping{mapping: m}
			if p.frame(m.start).String() == "" {
				t.Fatal("empty frame string")
			}
		}
	})
}

func FuzzParseKallsyms(f *testing.F) {
	f.Add([]byte(kallsymsFixture))
	f.Add([]byte("0000000000000000 T x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kt := parseKallsyms(data)
		for i := 1; i < kt.len(); i++ {
			if kt.addr(i) <= kt.addr(i-1) {
				t.Fatal("not sorted")
			}
		}
		for i := 0; i < kt.len(); i++ {
			if kt.name(i) == "" || kt.module(i) == "" {
				t.Fatalf("bad symbol %d: %q %q", i, kt.name(i), kt.module(i))
			}
			if f := kt.lookup(kt.addr(i)); f.Function != kt.name(i) || f.Module != kt.module(i) {
				t.Fatalf("lookup(%#x) = %+v", kt.addr(i), f)
			}
		}
	})
}

func loadHdr(off, vaddr, size uint64) load {
	return load{off: off, vaddr: vaddr, filesz: size}
}

// TestKallsymsPrefixes checks the names shared between "__pfx_" symbols
// and their functions, modules listed unsorted, and addresses too far
// apart for 32-bit offsets.
func TestKallsymsPrefixes(t *testing.T) {
	data := `ffffffff81000ff0 T __pfx_schedule
ffffffff81001000 T schedule
ffffffff81001ff0 t __pfx_orphan
ffffffff81002000 t other
ffffffff81002ff0 t __pfx_
ffffffffc0002ff0 t __pfx_mod_b	[mod]
ffffffffc0003000 t mod_b	[mod]
ffffffffc0000ff0 t __pfx_mod_a	[mod]
ffffffffc0001000 t mod_a	[other]
ffffffffc0001100 t __pfx_last	[mod]
`
	kt := parseKallsyms([]byte(data))
	want := []Frame{
		{Function: "__pfx_schedule", Module: KernelModule, Offset: 0xffffffff81000ff0},
		{Function: "schedule", Module: KernelModule, Offset: 0xffffffff81001000},
		{Function: "__pfx_orphan", Module: KernelModule, Offset: 0xffffffff81001ff0},
		{Function: "other", Module: KernelModule, Offset: 0xffffffff81002000},
		{Function: "__pfx_", Module: KernelModule, Offset: 0xffffffff81002ff0},
		{Function: "__pfx_mod_a", Module: "[mod]", Offset: 0xffffffffc0000ff0},
		{Function: "mod_a", Module: "[other]", Offset: 0xffffffffc0001000},
		{Function: "__pfx_last", Module: "[mod]", Offset: 0xffffffffc0001100},
		{Function: "__pfx_mod_b", Module: "[mod]", Offset: 0xffffffffc0002ff0},
		{Function: "mod_b", Module: "[mod]", Offset: 0xffffffffc0003000},
	}
	if kt.len() != len(want)-2 || kt.pad != 0x10 {
		t.Fatalf("%d symbols, pad %#x, want %d (2 folded), pad 0x10", kt.len(), kt.pad, len(want)-2)
	}
	for _, w := range want {
		for _, a := range []uint64{w.Offset, w.Offset + 4} {
			if got := kt.lookup(a); got.Function != w.Function || got.Module != w.Module || got.Offset != a {
				t.Errorf("lookup(%#x) = %+v, want %+v", a, got, w)
			}
		}
	}
	if got := kt.lookup(0xffffffff81000fef); got.Function != "" {
		t.Errorf("below the first symbol: %+v", got)
	}
	if kt.wide {
		t.Error("64-bit addresses for a 32-bit span")
	}
	wide := parseKallsyms([]byte("0000000000001000 T low\nffffffff81000000 T high\n"))
	if !wide.wide || wide.lookup(0x1001).Function != "low" || wide.lookup(0xffffffff81000001).Function != "high" {
		t.Errorf("wide table: %+v %+v", wide.lookup(0x1001), wide.lookup(0xffffffff81000001))
	}
}

// TestKallsymsMatchesReference reads this machine's /proc/kallsyms and
// resolves every symbol's address as a plain parse of the file does.
func TestKallsymsMatchesReference(t *testing.T) {
	data := testutil.Kallsyms(t)
	type ref struct {
		addr      uint64
		name, mod string
	}
	var refs []ref
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.Contains("tTwW", f[1]) || len(f[1]) != 1 {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || a == 0 {
			continue
		}
		mod := KernelModule
		if len(f) == 4 {
			mod = f[3]
		}
		refs = append(refs, ref{a, f[2], mod})
	}
	if len(refs) == 0 {
		t.Fatal("no text symbols in /proc/kallsyms")
	}
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].addr < refs[j].addr })
	kt := parseKallsyms(data)
	for i, r := range refs {
		if i+1 < len(refs) && refs[i+1].addr == r.addr {
			continue // the last one listed at an address wins
		}
		if got := kt.lookup(r.addr); got.Function != r.name || got.Module != r.mod {
			t.Fatalf("lookup(%#x) = %+v, want %s %s", r.addr, got, r.name, r.mod)
		}
	}
	t.Logf("%d symbols, %d kept, %d bytes (kallsyms: %d bytes)", len(refs), kt.len(), kt.bytes(), len(data))
}
