package parse

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/testutil"
)

// roundTrip prints p as source, parses that and checks the tree is the
// same.
func roundTrip(t testing.TB, p *ast.Program) {
	t.Helper()
	src := ast.Format(p)
	q, err := Parse("formatted.bt", []byte(src))
	if err != nil {
		t.Fatalf("reparsing the formatted program: %v\n%s", err, src)
	}
	if a, b := ast.Sexpr(p), ast.Sexpr(q); a != b {
		t.Fatalf("the formatted program parses to another tree:\n%s\nfirst  %s\nsecond %s", src, a, b)
	}
}

// BpftraceTools returns the .bt tools that Debian's bpftrace package
// installs, or skips the test naming the package.
func BpftraceTools(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"/usr/sbin", "/usr/share/bpftrace/tools"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.bt"))
		files = append(files, m...)
	}
	if len(files) == 0 {
		testutil.Skip(t, "the bpftrace package (its tools, /usr/sbin/*.bt)", errors.New("no .bt files installed"))
	}
	return files
}

// ourScripts returns the scripts under testdata.
func ourScripts(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../testdata/*.bt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in ../testdata: %v", err)
	}
	return files
}

// TestCorpus parses every tool of the bpftrace package and our own
// scripts, and round-trips each through Format.
func TestCorpus(t *testing.T) {
	files := append(ourScripts(t), BpftraceTools(t)...)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(f, src)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Probes) == 0 {
				t.Fatalf("%s: no probes parsed", f)
			}
			roundTrip(t, p)
		})
	}
}

// FuzzParse checks that the parser never panics and that whatever it
// accepts prints back to source that parses to the same tree.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"../testdata", "/usr/sbin", "/usr/share/bpftrace/tools"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.bt"))
		for _, file := range m {
			if src, err := os.ReadFile(file); err == nil {
				f.Add(src)
			}
		}
	}
	for _, s := range []string{
		`BEGIN { printf("%d\n", 1 + 2 * 3); }`,
		`k:f+0x10 /pid == $1 && comm == "x"/ { @[kstack, ustack] = count(); }`,
		`u:"/a b":"f(int)" { $x = (struct s *)arg0; @m[$x->a.b[1]]++; }`,
		"config = { max_strlen = 1 }\nBEGIN { for ($i : 0..3) { unroll(2) {} } }",
		`BEGIN { $s = "\x01\777"; $t = (1, "a"); @x[$t.1] = sizeof(uint8[4]); }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse("fuzz.bt", src)
		if err != nil {
			var list ast.ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		roundTrip(t, p)
	})
}
