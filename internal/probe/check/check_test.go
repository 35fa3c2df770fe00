package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/parse"
	"github.com/kscope/kscope/internal/testutil"
)

func checkSource(t testing.TB, src string, conf *Config) (*Info, error) {
	t.Helper()
	p, err := parse.Parse("t.bt", []byte(src))
	if err != nil {
		t.Fatalf("parsing %q: %v", src, err)
	}
	return Check("t.bt", []byte(src), p, conf)
}

// TestCheckErrors checks the exact text of type errors, with nearest-name
// suggestions where a name is misspelt.
func TestCheckErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"BEGIN { printff(\"x\"); }",
			"t.bt:1:9: unknown function printff(); did you mean printf?\nBEGIN { printff(\"x\"); }\n        ^"},
		{"BEGN { }",
			"t.bt:1:1: unknown probe type \"BEGN\"; did you mean BEGIN?\nBEGN { }\n^"},
		{"kprob:f { }",
			"t.bt:1:1: unknown probe type \"kprob\"; did you mean kprobe?\nkprob:f { }\n^"},
		{"BEGIN { $x = pdi; }",
			"t.bt:1:14: unknown identifier \"pdi\"; did you mean pid?\nBEGIN { $x = pdi; }\n             ^"},
		{"BEGIN { $x = count; }",
			"t.bt:1:14: count is a function: call it as count()\nBEGIN { $x = count; }\n             ^"},
		{"BEGIN { print($y); }",
			"t.bt:1:15: undefined variable $y\nBEGIN { print($y); }\n              ^"},
		{"BEGIN { $x = 1; $x = \"s\"; }",
			"t.bt:1:22: type mismatch for $x: assigning string, but it holds int (set at 1:9)\nBEGIN { $x = 1; $x = \"s\"; }\n                     ^"},
		{"BEGIN { @m = 1; @m = \"s\"; }",
			"t.bt:1:17: type mismatch for @m: assigning string, but it holds int (set at 1:9)\nBEGIN { @m = 1; @m = \"s\"; }\n                ^"},
		{"BEGIN { @m = count(); @m = sum(1); }",
			"t.bt:1:23: @m holds count() (set at 1:9); it cannot also take sum()\nBEGIN { @m = count(); @m = sum(1); }\n                      ^"},
		{"BEGIN { @m[1] = 1; @m[1, 2] = 2; }",
			"t.bt:1:20: @m is used with 2 keys here but with 1 key at 1:9\nBEGIN { @m[1] = 1; @m[1, 2] = 2; }\n                   ^"},
		{"BEGIN { @m[1] = 1; @m[\"a\"] = 2; }",
			"t.bt:1:23: @m key 1 is string here but int at 1:9\nBEGIN { @m[1] = 1; @m[\"a\"] = 2; }\n                      ^"},
		{"BEGIN { @m = 1; @m[1] = 2; }",
			"t.bt:1:17: @m is used with 1 key here but with no key at 1:9\nBEGIN { @m = 1; @m[1] = 2; }\n                ^"},
		{"BEGIN { print(@nope); }",
			"t.bt:1:15: undefined map @nope: it is never assigned\nBEGIN { print(@nope); }\n              ^"},
		{"BEGIN { $x = count(); }",
			"t.bt:1:14: count() can only be assigned to a map: @name = count(…)\nBEGIN { $x = count(); }\n             ^"},
		{"BEGIN { sum(1); }",
			"t.bt:1:9: sum() can only be assigned to a map: @name = sum(…)\nBEGIN { sum(1); }\n        ^"},
		{"BEGIN { printf(\"%d %s\\n\", 1); }",
			"t.bt:1:9: printf() format has 2 conversions, but 1 argument given\nBEGIN { printf(\"%d %s\\n\", 1); }\n        ^"},
		{"BEGIN { printf(\"%d\\n\", \"s\"); }",
			"t.bt:1:24: printf() %d needs an integer, not string\nBEGIN { printf(\"%d\\n\", \"s\"); }\n                       ^"},
		{"BEGIN { printf(\"%y\\n\", 1); }",
			"t.bt:1:16: printf() format: unknown conversion %y\nBEGIN { printf(\"%y\\n\", 1); }\n               ^"},
		{"BEGIN { $f = \"x\"; printf($f); }",
			"t.bt:1:26: printf() needs a string literal as its format\nBEGIN { $f = \"x\"; printf($f); }\n                         ^"},
		{"BEGIN { $x = printf(\"x\"); }",
			"t.bt:1:14: printf() returns no value and cannot be assigned\nBEGIN { $x = printf(\"x\"); }\n             ^"},
		{"BEGIN { str(); }",
			"t.bt:1:9: str() takes at least 1 argument, not 0\nBEGIN { str(); }\n        ^"},
		{"BEGIN { lhist(1); }",
			"t.bt:1:9: lhist() can only be assigned to a map: @name = lhist(…)\nBEGIN { lhist(1); }\n        ^"},
		{"BEGIN { @l = lhist(1, 10, 5, 1); }",
			"t.bt:1:27: lhist max (5) must be above min (10)\nBEGIN { @l = lhist(1, 10, 5, 1); }\n                          ^"},
		{"BEGIN { @h = hist(1, 9); }",
			"t.bt:1:22: hist's second argument (buckets per power of 2, as log2) must be an integer literal from 0 to 5\nBEGIN { @h = hist(1, 9); }\n                     ^"},
		{"kprobe:f { $r = retval; }",
			"t.bt:1:17: retval is not available in kprobe probes (only in kretprobe, uretprobe, fexit)\nkprobe:f { $r = retval; }\n                ^"},
		{"kprobe:f { $a = args.x; }",
			"t.bt:1:17: args is not available in kprobe probes (only in tracepoint, rawtracepoint, fentry, fexit, uprobe, uretprobe, usdt)\nkprobe:f { $a = args.x; }\n                ^"},
		{"tracepoint:a:b { $a = arg0; }",
			"t.bt:1:23: arg0 is not available in tracepoint probes (only in kprobe, uprobe, usdt, rawtracepoint)\ntracepoint:a:b { $a = arg0; }\n                      ^"},
		{"tracepoint:a { }",
			"t.bt:1:1: tracepoint takes tracepoint:CATEGORY:NAME, not \"tracepoint:a\"\ntracepoint:a { }\n^"},
		{"tracepoint:a:b:c { }",
			"t.bt:1:1: tracepoint takes tracepoint:CATEGORY:NAME, not \"tracepoint:a:b:c\"\ntracepoint:a:b:c { }\n^"},
		{"profile:hz:0 { }",
			"t.bt:1:1: profile rate \"0\" is not a positive integer\nprofile:hz:0 { }\n^"},
		{"profile:kHz:99 { }",
			"t.bt:1:1: unknown profile unit \"kHz\" (want hz, s, ms or us)\nprofile:kHz:99 { }\n^"},
		{"interval:s:x { }",
			"t.bt:1:1: interval rate \"x\" is not a positive integer\ninterval:s:x { }\n^"},
		{"software:page-fault:1 { }",
			"t.bt:1:1: unknown software event \"page-fault\"; did you mean page-faults?\nsoftware:page-fault:1 { }\n^"},
		{"hardware:cycle { }",
			"t.bt:1:1: unknown hardware event \"cycle\"; did you mean cycles?\nhardware:cycle { }\n^"},
		{"BEGIN:x { }",
			"t.bt:1:1: begin takes BEGIN, not \"BEGIN:x\"\nBEGIN:x { }\n^"},
		{"kretprobe:f+8 { }",
			"t.bt:1:1: kretprobe takes no +offset (only kprobe and uprobe do): \"kretprobe:f+8\"\nkretprobe:f+8 { }\n^"},
		{"BEGIN { break; }",
			"t.bt:1:9: break outside a while or for loop\nBEGIN { break; }\n        ^"},
		{"BEGIN { unroll(101) { } }",
			"t.bt:1:16: unroll count must be between 1 and 100, not 101\nBEGIN { unroll(101) { } }\n               ^"},
		{"BEGIN { unroll(pid) { } }",
			"t.bt:1:16: unroll takes an integer literal or a positional parameter\nBEGIN { unroll(pid) { } }\n               ^"},
		{"BEGIN { $x = \"a\" + 1; }",
			"t.bt:1:14: operator + needs an integer, not string\nBEGIN { $x = \"a\" + 1; }\n             ^"},
		{"BEGIN { if (\"a\" == 1) { } }",
			"t.bt:1:17: cannot compare string with int\nBEGIN { if (\"a\" == 1) { } }\n                ^"},
		{"BEGIN { $t = (1, 2); $y = $t.2; }",
			"t.bt:1:29: tuple index 2 out of range: the tuple has 2 elements\nBEGIN { $t = (1, 2); $y = $t.2; }\n                            ^"},
		{"BEGIN { $x = 1; $y = $x->f; }",
			"t.bt:1:24: cannot access field f of int; cast it to a struct pointer first, e.g. ((struct task_struct *)x)->f\nBEGIN { $x = 1; $y = $x->f; }\n                       ^"},
		{"BEGIN { $x = (uint32)\"s\"; }",
			"t.bt:1:14: cannot cast string to uint32\nBEGIN { $x = (uint32)\"s\"; }\n             ^"},
		{"BEGIN { clear(@m[1]); @m[1] = 1; }",
			"t.bt:1:15: clear() takes a whole map: write clear(@m)\nBEGIN { clear(@m[1]); @m[1] = 1; }\n              ^"},
		{"BEGIN { delete(1); }",
			"t.bt:1:16: delete() takes a map as its first argument\nBEGIN { delete(1); }\n               ^"},
		{"BEGIN { @x = 1; for ($kv : @x) { } }",
			"t.bt:1:28: for iterates over a map with keys; @x has none\nBEGIN { @x = 1; for ($kv : @x) { } }\n                           ^"},
		{"BEGIN { $x = kaddr(1); }",
			"t.bt:1:20: kaddr() argument 1 must be a string, not int\nBEGIN { $x = kaddr(1); }\n                   ^"},
		{"config = { max_strln = 1; }\nBEGIN { }",
			"t.bt:1:12: unknown config key \"max_strln\"; did you mean max_strlen?\nconfig = { max_strln = 1; }\n           ^"},
		{"config = { missing_probes = \"sometimes\"; }\nBEGIN { }",
			"t.bt:1:29: config key missing_probes takes one of error, warn, ignore, not \"sometimes\"\nconfig = { missing_probes = \"sometimes\"; }\n                            ^"},
		{"config = { max_strlen = \"big\"; }\nBEGIN { }",
			"t.bt:1:25: config key max_strlen takes an integer, not \"big\"\nconfig = { max_strlen = \"big\"; }\n                        ^"},
		{"BEGIN { $x = 1 ? \"a\" : 2; }",
			"t.bt:1:16: ternary branches differ: string and int\nBEGIN { $x = 1 ? \"a\" : 2; }\n               ^"},
		{"BEGIN { @x = hist(1); $y = @x + 1; }",
			"t.bt:1:28: operator + needs an integer, not hist()\nBEGIN { @x = hist(1); $y = @x + 1; }\n                           ^"},
		{"BEGIN { 1++; }",
			"t.bt:1:9: ++ applies to a $variable or an @map\nBEGIN { 1++; }\n        ^"},
		{"BEGIN { $s = \"a\"; $s++; }",
			"t.bt:1:19: ++ needs an integer; $s holds string\nBEGIN { $s = \"a\"; $s++; }\n                  ^"},
		{"BEGIN { $s = \"a\"; $s += 1; }",
			"t.bt:1:19: += needs an integer variable; $s holds string\nBEGIN { $s = \"a\"; $s += 1; }\n                  ^"},
		{"BEGIN { if (\"x\") { } }",
			"t.bt:1:13: an if condition must be an integer, not string\nBEGIN { if (\"x\") { } }\n            ^"},
		{"BEGIN { exit(1, 2); }",
			"t.bt:1:9: exit() takes at most 1 argument, not 2\nBEGIN { exit(1, 2); }\n        ^"},
		{"BEGIN { $x = foo; }",
			"t.bt:1:14: unknown identifier \"foo\"\nBEGIN { $x = foo; }\n             ^"},
		{"iter:tsk { }",
			"t.bt:1:1: unknown iterator \"tsk\"; did you mean task?\niter:tsk { }\n^"},
		{"watchpoint:0x1:9:rw { }",
			"t.bt:1:1: watchpoint length \"9\" must be 1 to 8 bytes\nwatchpoint:0x1:9:rw { }\n^"},
		{"watchpoint:0x1:4:q { }",
			"t.bt:1:1: watchpoint mode \"q\" must be made of r, w and x\nwatchpoint:0x1:4:q { }\n^"},
		{"hardware:cycles:1e { }",
			"t.bt:1:1: hardware count \"1e\" is not a positive integer\nhardware:cycles:1e { }\n^"},
		{"BEGIN { system(\"ls\"); }",
			"t.bt:1:9: system() is unsafe: allow it with --unsafe\nBEGIN { system(\"ls\"); }\n        ^"},
		{"kprobe:f { signal(\"KILL\"); override(1); }",
			"t.bt:1:12: signal() is unsafe: allow it with --unsafe\nkprobe:f { signal(\"KILL\"); override(1); }\n           ^\nt.bt:1:28: override() is unsafe: allow it with --unsafe\nkprobe:f { signal(\"KILL\"); override(1); }\n                           ^"},
		{"END { signal(9); }",
			"t.bt:1:7: signal() is unsafe: allow it with --unsafe\nEND { signal(9); }\n      ^\nt.bt:1:7: signal() cannot be used in end probes\nEND { signal(9); }\n      ^"},
		{"BEGIN { $x = cpid; }",
			"t.bt:1:14: cpid needs a command to trace (-c)\nBEGIN { $x = cpid; }\n             ^"},
		{"BEGIN { $x = func; }",
			"t.bt:1:14: func is not available in begin probes (only in kprobe, kretprobe, uprobe, uretprobe, fentry, fexit)\nBEGIN { $x = func; }\n             ^"},
		{"BEGIN { printf(\"%s\\n\", 1); }",
			"t.bt:1:24: printf() %s needs a string, not int\nBEGIN { printf(\"%s\\n\", 1); }\n                       ^"},
		{"BEGIN { @x = avg(\"s\"); }",
			"t.bt:1:18: avg() argument 1 must be an integer, not string\nBEGIN { @x = avg(\"s\"); }\n                 ^"},
		{"BEGIN { @x = count(1); }",
			"t.bt:1:14: count() takes 0 arguments, not 1\nBEGIN { @x = count(1); }\n             ^"},
		{"BEGIN { $x = reg(\"ip\"); }",
			"t.bt:1:14: reg() is not available in begin probes (only in kprobe, kretprobe, uprobe, uretprobe, usdt, profile)\nBEGIN { $x = reg(\"ip\"); }\n             ^"},
		{"macro m(a) { } BEGIN { m(1, 2); }",
			"t.bt:1:24: macro m takes 1 argument, not 2\nmacro m(a) { } BEGIN { m(1, 2); }\n                       ^"},
		{"macro m(@x) { } BEGIN { m(1); }",
			"t.bt:1:27: macro m takes a map as argument 1\nmacro m(@x) { } BEGIN { m(1); }\n                          ^"},
		{"macro m(a) { } macro m(b) { } BEGIN { }",
			"t.bt:1:16: macro m is defined twice\nmacro m(a) { } macro m(b) { } BEGIN { }\n               ^"},
		{"macro printf(a) { } BEGIN { }",
			"t.bt:1:1: macro printf has the name of a function\nmacro printf(a) { } BEGIN { }\n^"},
		{"macro m(a) { $x = b; } BEGIN { m(1); }",
			"t.bt:1:19: unknown identifier \"b\"\nmacro m(a) { $x = b; } BEGIN { m(1); }\n                  ^"},
		{"macro remember(a) { } BEGIN { remembr(1); }",
			"t.bt:1:31: unknown function remembr(); did you mean remember?\nmacro remember(a) { } BEGIN { remembr(1); }\n                              ^"},
	} {
		_, err := checkSource(t, tc.src, nil)
		if err == nil {
			t.Errorf("checking %q: no error, want %q", tc.src, tc.want)
			continue
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("checking %q:\n got %q\nwant %q", tc.src, got, tc.want)
		}
	}
}

// TestCheckMaps checks the key and value types learned from first use,
// across probes in any order.
func TestCheckMaps(t *testing.T) {
	src := `
END { printf("%d %d\n", @n, @by[1, "x"]); print(@lat); print(@last); }
kretprobe:vfs_read /@start[tid]/ {
	@lat[comm] = hist(nsecs - @start[tid]);
	delete(@start[tid]);
}
kprobe:vfs_read { @start[tid] = nsecs; @n++; @by[pid, comm] = sum(arg2); @last[cpu] = (comm, pid); @s = "x"; @anon = count(); @ = 1; }
`
	info, err := checkSource(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for name, m := range info.Maps {
		keys := ""
		if m.Keyed {
			keys = fmt.Sprint(m.Keys)
		}
		got = append(got, fmt.Sprintf("@%s%s=%s", name, keys, m.Value))
	}
	sort.Strings(got)
	want := "@=int @anon=count() @by[int string]=sum() @last[int]=(string, int) @lat[string]=hist() @n=int @s=string @start[int]=int"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("maps:\n got %s\nwant %s", g, want)
	}
	if g := fmt.Sprint(info.Probes); g != "[[end] [kretprobe] [kprobe]]" {
		t.Errorf("probes: got %s", g)
	}
}

// TestCheckProbeKinds accepts every spelling of every probe type and
// records its canonical name.
func TestCheckProbeKinds(t *testing.T) {
	src := `BEGIN, begin, END, end {}
tracepoint:a:b, t:a:b*, rawtracepoint:x, rt:m:x {}
kprobe:f+16, k:m:f*, kretprobe:f, kr:m:f {}
fentry:f, f:m:f, kfunc:f, fexit:f, fr:f, kretfunc:m:f {}
uprobe:/bin/sh:main+0x10, u:libc:malloc, uretprobe:/bin/sh:main, ur:./a:cpp:"ns::f()", usdt:/bin/p:prov:name, U:/bin/p:name {}
profile:hz:99, p:ms:1, profile:99, interval:s:1, i:ms:10, interval:us:500 {}
software:cpu-clock:1000, s:page-faults, hardware:cycles:100000, h:cache-misses:1e6 {}
iter:task, it:task_file:/sys/fs/bpf/files, watchpoint:0x10000000:8:rw, w:increment+arg1:4:w, asyncwatchpoint:0x1:1:x, aw:0x1:2:r {}
`
	info, err := checkSource(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "[[begin begin end end] [tracepoint tracepoint rawtracepoint rawtracepoint] [kprobe kprobe kretprobe kretprobe] " +
		"[fentry fentry fentry fexit fexit fexit] [uprobe uprobe uretprobe uretprobe usdt usdt] " +
		"[profile profile profile interval interval interval] [software software hardware hardware] " +
		"[iter iter watchpoint watchpoint asyncwatchpoint asyncwatchpoint]]"
	if g := fmt.Sprint(info.Probes); g != want {
		t.Errorf("probes:\n got %s\nwant %s", g, want)
	}
}

// TestCheckParams types positional parameters from their values.
func TestCheckParams(t *testing.T) {
	src := `BEGIN { $a = $1; $b = $2; $c = $3; $n = $#; }`
	for _, tc := range []struct {
		params []string
		want   string
	}{
		{nil, "unknown unknown unknown int"},
		{[]string{"42", "bash"}, "int string int int"},
		{[]string{"0x10", "-3", "x"}, "int int string int"},
	} {
		p, err := parse.Parse("t.bt", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		info, err := Check("t.bt", []byte(src), p, &Config{Params: tc.params})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range p.Probes[0].Body.Stmts {
			got = append(got, info.Types[s.(*ast.AssignStmt).Value].String())
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("params %q: got %s, want %s", tc.params, g, tc.want)
		}
		if info.MaxParam != 3 {
			t.Errorf("MaxParam = %d, want 3", info.MaxParam)
		}
	}
}

// TestCheckLocals scopes $variables to their probe and for variables to
// their loop.
func TestCheckLocals(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`BEGIN { $x = 1; } END { print($x); }`, "t.bt:1:31: undefined variable $x"},
		{`BEGIN { for ($i : 0..3) { } print($i); }`, "t.bt:1:35: undefined variable $i"},
		{`BEGIN { if (1) { $x = 1; } print($x); }`, ""},
		{`BEGIN { $x = 1; for ($x : 0..3) { } }`, "t.bt:1:22: for variable $x shadows the variable set at 1:9"},
		{`BEGIN { let $x = 1; let $x = 2; }`, "t.bt:1:25: $x is already declared at 1:13"},
		{`BEGIN { @m[1] = 2; for ($kv : @m) { $k = $kv.0 + $kv.1; } }`, ""},
		{`BEGIN { $s = "abc"; if ($s[0] == "/"[0]) { } $d = getopt("depth", 35); for $i : 0..$d { } }`, ""},
		{`BEGIN { $t = (1, 2); $x = $t[0]; }`, "t.bt:1:29: cannot index (int, int)"},
		{`BEGIN { $t = (1, "s"); $t = (2, "u"); $t = ("s", 1); }`, "t.bt:1:44: type mismatch for $t: assigning (string, int), but it holds (int, string) (set at 1:9)"},
	} {
		_, err := checkSource(t, tc.src, nil)
		got := ""
		if err != nil {
			got = strings.SplitN(err.Error(), "\n", 2)[0]
		}
		if got != tc.want {
			t.Errorf("checking %q:\n got %q\nwant %q", tc.src, got, tc.want)
		}
	}
}

// TestCheckMaxErrors stops after ten errors.
func TestCheckMaxErrors(t *testing.T) {
	src := "BEGIN {" + strings.Repeat(" $x = nope;", 20) + " }"
	_, err := checkSource(t, src, nil)
	var list ast.ErrorList
	if !errors.As(err, &list) || len(list) != maxErrors {
		t.Fatalf("got %d errors, want %d: %v", len(list), maxErrors, err)
	}
}

func corpus(t testing.TB) []string {
	t.Helper()
	ours, _ := filepath.Glob("../testdata/*.bt")
	if len(ours) == 0 {
		t.Fatal("no scripts in ../testdata")
	}
	var tools []string
	for _, dir := range []string{"/usr/sbin", "/usr/share/bpftrace/tools"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.bt"))
		tools = append(tools, m...)
	}
	if len(tools) == 0 {
		testutil.Skip(t, "the bpftrace package (its tools, /usr/sbin/*.bt)", errors.New("no .bt files installed"))
	}
	return append(ours, tools...)
}

// TestCorpus type-checks every tool of the bpftrace package and our own
// scripts.
func TestCorpus(t *testing.T) {
	for _, f := range corpus(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := parse.Parse(f, src)
			if err != nil {
				t.Fatal(err)
			}
			info, err := Check(f, src, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Probes) != len(p.Probes) {
				t.Fatalf("%d probes checked of %d", len(info.Probes), len(p.Probes))
			}
		})
	}
}

// FuzzCheck checks that the type checker never panics on a parsed script
// and reports errors only as an ast.ErrorList.
func FuzzCheck(f *testing.F) {
	for _, dir := range []string{"../testdata", "/usr/sbin", "/usr/share/bpftrace/tools"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.bt"))
		for _, file := range m {
			if src, err := os.ReadFile(file); err == nil {
				f.Add(src)
			}
		}
	}
	f.Add([]byte(`BEGIN { @m[1, "a"] = count(); for ($kv : @m) { printf("%d %s\n", $kv.0.0, $kv.0.1); } }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := parse.Parse("fuzz.bt", src)
		if err != nil {
			return
		}
		if _, err := Check("fuzz.bt", src, p, &Config{Params: []string{"1", "x"}}); err != nil {
			var list ast.ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error of type %T: %v", err, err)
			}
		}
	})
}

// TestCheckOptions allows unsafe functions with Unsafe and cpid with Child.
func TestCheckOptions(t *testing.T) {
	src := `kprobe:f { system("kill %d", cpid); signal("KILL"); override(1); }`
	info, err := checkSource(t, src, &Config{Unsafe: true, Child: true})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Unsafe {
		t.Error("Info.Unsafe not set")
	}
	if _, err := checkSource(t, src, &Config{Child: true}); err == nil {
		t.Error("unsafe functions accepted without Unsafe")
	}
}

// TestCheckUnrollParam takes unroll's count from a positional parameter
// once the parameters are known.
func TestCheckUnrollParam(t *testing.T) {
	src := `BEGIN { unroll($1) { } }`
	for _, tc := range []struct {
		params []string
		want   string
	}{
		{nil, ""},
		{[]string{"4"}, ""},
		{[]string{"101"}, "t.bt:1:16: unroll count must be between 1 and 100, not 101"},
		{[]string{"x"}, "t.bt:1:16: unroll count $1 is \"x\", not an integer"},
		{[]string{}, "t.bt:1:16: unroll count must be between 1 and 100, not 0"},
	} {
		_, err := checkSource(t, src, &Config{Params: tc.params})
		got := ""
		if err != nil {
			got = strings.SplitN(err.Error(), "\n", 2)[0]
		}
		if got != tc.want {
			t.Errorf("params %q: got %q, want %q", tc.params, got, tc.want)
		}
	}
}
