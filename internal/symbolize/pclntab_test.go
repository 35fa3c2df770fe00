package symbolize

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const testText = 0x401000

func smallPclntab(order testOrder, ptr, quantum int) testPclntab {
	q := uint32(quantum)
	return testPclntab{
		order: order, ptr: ptr, quantum: quantum,
		files: []string{"/src/a.go", "/src/b.go"},
		funcs: []testFunc{
			{name: "main.a", entry: 0, runs: []testRun{{end: 4 * q, file: 0, line: 10}, {end: 8 * q, file: 1, line: 3}}},
			{name: "main.b", entry: 8 * q, runs: []testRun{{end: 2 * q, file: 1, line: 7}, {end: 6 * q, file: 1, line: 5}}},
			{name: "net/http.(*conn).serve", entry: 16 * q, runs: []testRun{{end: 16 * q, file: 0, line: 100}}},
		},
		end: 32 * q,
	}
}

func readerOf(data []byte) region {
	return region{r: bytes.NewReader(data), size: int64(len(data))}
}

func TestPclntabLookup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		order   testOrder
		ptr, q  int
		wantErr bool
	}{
		{"le64", binary.LittleEndian, 8, 1, false},
		{"le32-quantum4", binary.LittleEndian, 4, 4, false},
		{"be64-quantum2", binary.BigEndian, 8, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := uint64(tc.q)
			data := smallPclntab(tc.order, tc.ptr, tc.q).bytes()
			p, err := newPclnReader(readerOf(data), testText)
			if err != nil {
				t.Fatal(err)
			}
			type want struct {
				fn, file string
				line     int
				ok       bool
			}
			for _, c := range []struct {
				pc uint64
				want
			}{
				{testText - 1, want{}},
				{testText, want{"main.a", "/src/a.go", 10, true}},
				{testText + 4*q - 1, want{"main.a", "/src/a.go", 10, true}},
				{testText + 4*q, want{"main.a", "/src/b.go", 3, true}},
				{testText + 8*q, want{"main.b", "/src/b.go", 7, true}},
				{testText + 11*q, want{"main.b", "/src/b.go", 5, true}},
				{testText + 14*q, want{"main.b", "", -1, true}}, // past its tables: no line
				{testText + 31*q, want{"net/http.(*conn).serve", "/src/a.go", 100, true}},
				{testText + 16*q, want{"net/http.(*conn).serve", "/src/a.go", 100, true}},
				{testText + 32*q, want{}},
			} {
				fn, file, line, ok := p.lookup(c.pc)
				if got := (want{fn, file, line, ok}); got != c.want {
					t.Errorf("lookup(%#x) = %+v, want %+v", c.pc, got, c.want)
				}
			}
			compareGosym(t, p, data, testText, testText-2, testText+32*q+2, 1)
		})
	}
}

// TestPclntabManyFuncs crosses sample blocks: every pc of 1000 functions
// of varied sizes resolves as debug/gosym resolves it.
func TestPclntabManyFuncs(t *testing.T) {
	tab := testPclntab{order: binary.LittleEndian, ptr: 8, quantum: 1, files: []string{"x.go", "y.go", "z.go"}}
	entry := uint32(0)
	for i := range 1000 {
		size := uint32(1 + i%7*3)
		var runs []testRun
		for j := uint32(0); j < size; j += 2 {
			runs = append(runs, testRun{end: min(j+2, size), file: int32((i + int(j)) % 3), line: int32(i*10 + int(j))})
		}
		tab.funcs = append(tab.funcs, testFunc{name: fmt.Sprintf("pkg.f%d", i), entry: entry, runs: runs})
		entry += size
	}
	tab.end = entry
	data := tab.bytes()
	p, err := newPclnReader(readerOf(data), testText)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.sample) != 1000/pclnSample+2 {
		t.Errorf("%d samples", len(p.sample))
	}
	compareGosym(t, p, data, testText, testText-1, testText+uint64(entry)+1, 1)
}

// compareGosym checks that p resolves pcs in [lo, hi) by step as
// debug/gosym does on the same table.
func compareGosym(t *testing.T, p *pclnReader, data []byte, text, lo, hi, step uint64) {
	t.Helper()
	gt, err := gosym.NewTable(nil, gosym.NewLineTable(data, text))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for pc := lo; pc < hi; pc += step {
		wantFile, wantLine, wantFn := gt.PCToLine(pc)
		fn, file, line, ok := p.lookup(pc)
		if ok != (wantFn != nil) {
			t.Fatalf("pc %#x: found %v, gosym %v", pc, ok, wantFn != nil)
		}
		if ok && (fn != wantFn.Name || file != wantFile || line != wantLine) {
			t.Fatalf("pc %#x: %s %s:%d, gosym %s %s:%d", pc, fn, file, line, wantFn.Name, wantFile, wantLine)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no pc compared")
	}
}

func TestPclntabMalformed(t *testing.T) {
	good := smallPclntab(binary.LittleEndian, 8, 1).bytes()
	set := func(off int, v uint64) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint64(b[off:], v)
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", good[:20]},
		{"bad magic", append([]byte{1, 2, 3, 4}, good[4:]...)},
		{"bad pointer size", append(bytes.Clone(good[:7]), append([]byte{3}, good[8:]...)...)},
		{"zero functions", set(8, 0)},
		{"huge function count", set(8, 1<<40)},
		{"table offset past the end", set(8+7*8, uint64(len(good)))},
		{"functab cut", good[:len(good)-3*11*4-4]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := newPclnReader(readerOf(tc.data), testText); err == nil {
				t.Fatalf("no error; %+v", p)
			}
		})
	}
	// Tables cut after the function table: lookups fail, or find no
	// file or line, without panicking.
	for cut := len(good) - 1; cut > len(good)-3*11*4-4; cut -= 7 {
		data := good[:cut]
		p, err := newPclnReader(readerOf(data), testText)
		if err != nil {
			continue
		}
		for pc := uint64(testText); pc < testText+40; pc++ {
			p.lookup(pc)
		}
	}
}

func FuzzPclntab(f *testing.F) {
	f.Add(smallPclntab(binary.LittleEndian, 8, 1).bytes(), uint16(5))
	f.Add(smallPclntab(binary.BigEndian, 4, 4).bytes(), uint16(40))
	f.Fuzz(func(t *testing.T, data []byte, off uint16) {
		p, err := newPclnReader(readerOf(data), testText)
		if err != nil {
			return
		}
		if len(p.sample) > len(data)/8+2 {
			t.Fatalf("%d samples for %d bytes", len(p.sample), len(data))
		}
		for _, pc := range []uint64{testText + uint64(off), p.sample[0], p.sample[len(p.sample)-1] - 1} {
			if fn, _, _, ok := p.lookup(pc); ok && len(fn) > maxString {
				t.Fatalf("name of %d bytes", len(fn))
			}
		}
	})
}

// goBinaries builds small Go programs (once per test binary run) for the
// tests that compare with debug/gosym and debug/elf: plain, stripped
// (-s -w), stripped PIE, 32-bit (ELF32) and big-endian (s390x).
func goBinaries(t *testing.T) map[string]string {
	t.Helper()
	goBin := needTool(t, "go")
	if builtGo.err != "" {
		t.Fatal(builtGo.err)
	}
	if builtGo.bins != nil {
		return builtGo.bins
	}
	dir, err := os.MkdirTemp("", "kscope-symbolize-go")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(goProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	bins := map[string]string{}
	for _, b := range []struct {
		name string
		env  []string
		args []string
	}{
		{"plain", nil, nil},
		{"stripped", nil, []string{"-ldflags=-s -w"}},
		{"stripped-pie", nil, []string{"-buildmode=pie", "-ldflags=-s -w"}},
		{"386", []string{"GOARCH=386"}, nil},
		{"s390x", []string{"GOARCH=s390x"}, nil},
	} {
		out := filepath.Join(dir, b.name)
		cmd := exec.Command(goBin, append(append([]string{"build", "-o", out}, b.args...), "main.go")...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local"), b.env...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			builtGo.err = fmt.Sprintf("go build %s: %v\n%s", b.name, err, msg)
			t.Fatal(builtGo.err)
		}
		bins[b.name] = out
	}
	builtGo.bins = bins
	return bins
}

var builtGo struct {
	bins map[string]string
	err  string
}

// TestPclntabMatchesGosym resolves pcs of real Go binaries (the test
// binary, built programs, the Go toolchain's own) as debug/gosym does.
func TestPclntabMatchesGosym(t *testing.T) {
	files := map[string]string{"test binary": os.Args[0]}
	for name, path := range goBinaries(t) {
		files[name] = path
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	tools := filepath.Join(strings.TrimSpace(string(out)), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)
	for _, tool := range []string{"compile", "link", "vet"} {
		files["toolchain "+tool] = filepath.Join(tools, tool)
	}
	for name, path := range files {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tab, err := loadFile(f, "")
			if err != nil {
				t.Fatal(err)
			}
			p, ok := tab.goTab.(*pclnReader)
			if !ok {
				t.Fatalf("Go table %T", tab.goTab)
			}
			ef, err := elf.NewFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sec := ef.Section(".gopclntab")
			if sec == nil {
				sec = ef.Section(".data.rel.ro.gopclntab")
			}
			data, err := sec.Data()
			if err != nil {
				t.Fatal(err)
			}
			if syms, err := ef.Symbols(); err == nil {
				for _, s := range syms {
					if s.Name == "runtime.text" && s.Value != p.text {
						t.Errorf("text %#x, runtime.text %#x", p.text, s.Value)
					}
				}
			}
			gt, err := gosym.NewTable(nil, gosym.NewLineTable(data, p.text))
			if err != nil {
				t.Fatal(err)
			}
			// About 2000 functions spread over the table, at their entry,
			// one byte in, the middle and the last byte.
			step := max(1, len(gt.Funcs)/2000)
			n := 0
			for i := 0; i < len(gt.Funcs); i += step {
				fn := &gt.Funcs[i]
				for _, pc := range []uint64{fn.Entry, fn.Entry + 1, (fn.Entry + fn.End) / 2, fn.End - 1} {
					compareOne(t, p, gt, pc)
					n++
				}
			}
			compareOne(t, p, gt, gt.Funcs[0].Entry-1)
			compareOne(t, p, gt, gt.Funcs[len(gt.Funcs)-1].End)
			t.Logf("%d functions, %d pcs compared, %d bytes kept", len(gt.Funcs), n, p.bytes())
		})
	}
}

func compareOne(t *testing.T, p *pclnReader, gt *gosym.Table, pc uint64) {
	t.Helper()
	wantFile, wantLine, wantFn := gt.PCToLine(pc)
	fn, file, line, ok := p.lookup(pc)
	if ok != (wantFn != nil) {
		t.Fatalf("pc %#x: found %v, gosym %v", pc, ok, wantFn != nil)
	}
	if ok && (fn != wantFn.Name || file != wantFile || line != wantLine) {
		t.Fatalf("pc %#x: %s %s:%d, gosym %s %s:%d", pc, fn, file, line, wantFn.Name, wantFile, wantLine)
	}
}
