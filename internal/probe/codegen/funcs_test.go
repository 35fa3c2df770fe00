package codegen

import (
	"errors"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/probe/parse"
)

// TestFunctionWildcards checks that uprobe and kprobe function globs make
// one program per function, each named after its function.
func TestFunctionWildcards(t *testing.T) {
	src := `uprobe:/bin/x:tw_* { @[probe] = count(); } kprobe:vfs_* { @k[func] = count(); }`
	prog, err := parse.Parse("t.bt", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	info, err := check.Check("t.bt", []byte(src), prog, nil)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	fns := func(bin, glob string) ([]string, error) {
		asked = append(asked, bin+"|"+glob)
		if bin == "" {
			return []string{"vfs_read", "vfs_write"}, nil
		}
		return []string{"tw_a", "tw_b"}, nil
	}
	obj, err := Compile(prog, info, Options{Functions: fns, File: "t.bt", Source: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range obj.Probes {
		names = append(names, p.Name)
	}
	want := "uprobe:/bin/x:tw_a uprobe:/bin/x:tw_b kprobe:vfs_read kprobe:vfs_write"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("probes %s, want %s", got, want)
	}
	if got := strings.Join(asked, " "); got != "/bin/x|tw_* |vfs_*" {
		t.Errorf("asked %s", got)
	}
	for _, tc := range []struct {
		fns  func(string, string) ([]string, error)
		want string
	}{
		{func(string, string) ([]string, error) { return nil, nil }, "t.bt:1:1: no function matches uprobe:/bin/x:tw_*"},
		{func(string, string) ([]string, error) { return nil, errors.New("boom") }, "t.bt:1:1: expanding uprobe:/bin/x:tw_*: boom"},
		{func(string, string) ([]string, error) { return make([]string, 513), nil }, "matches 513 functions; at most 512"},
		{nil, "wildcards in function names cannot be expanded here"},
	} {
		_, err := Compile(prog, info, Options{Functions: tc.fns, File: "t.bt", Source: []byte(src)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %s", err, tc.want)
		}
	}
}

// TestFunctionsNotCompiledHere checks the functions that need something
// the kernel or the probe type lacks: each is an error at its position.
func TestFunctionsNotCompiledHere(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`BEGIN { printf("%r\n", buf(1)); }`, "t.bt:1:24: buf() of a pointer needs a length: buf(p, n)"},
		{`BEGIN { printf("%d\n", kaddr("x")); }`, "t.bt:1:24: kaddr() cannot resolve kernel symbols here"},
		{`BEGIN { printf("%d\n", strcontains("ab", comm)); }`, "strcontains() takes a string literal here"},
		{`BEGIN { printf("%d\n", strncmp("ab", 1, 1)); }`, "strncmp() compares two strings"},
		{`BEGIN { $x = 1; @m[1] = 1; for ($kv : @m) { printf("%d\n", $x); } }`, "t.bt:1:60: a for loop over a map cannot read $x of the probe around it"},
		{`BEGIN { $x = 1; @m[1] = 1; for ($kv : @m) { $x = 2; } }`, "t.bt:1:45: a for loop over a map cannot set $x of the probe around it"},
		{`BEGIN { @c[1] = count(); for ($kv : @c) { } }`, "t.bt:1:37: for over a count() map is not compiled yet"},
		{`tracepoint:syscalls:sys_enter_getppid { @m[1] = 1; for ($kv : @m) { printf("%d\n", args->__syscall_nr); } }`, "args inside a for loop over a map is not compiled yet"},
		{`BEGIN { @m[1] = 1; @s[1] = 1; for ($e : @s) { for ($kv : @m) { @x = $e.1; } } }`, "t.bt:1:69: a for loop over a map cannot read $e of the probe around it"},
	} {
		_, err := compile(t, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %s", tc.src, err, tc.want)
		}
	}
}
