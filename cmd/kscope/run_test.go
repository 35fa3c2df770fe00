package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/testutil"
)

// runWorkload is a C program that calls getppid argv[1] times, then opens
// /etc/hostname three times and /nonexistent once.
const runWorkload = `#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 10;
	for (int i = 0; i < n; i++) getppid();
	/* Touch the paths first: a probe cannot read a page not yet mapped. */
	const char *host = "/etc/hostname", *none = "/nonexistent";
	volatile char touch = host[0] + none[0];
	(void)touch;
	for (int i = 0; i < 3; i++) { int fd = open(host, O_RDONLY); if (fd >= 0) close(fd); }
	open(none, O_RDONLY);
	return 0;
}
`

// runUprobeWorkload calls twice(i) for i in 0..argv[1]-1.
const runUprobeWorkload = `#include <stdlib.h>
__attribute__((noinline)) long twice(long x) { __asm__ volatile(""); return 2 * x; }
int main(int argc, char **argv) { long s = 0; int n = atoi(argv[1]); for (int i = 0; i < n; i++) s += twice(i); return s == 0; }
`

// runKscope runs `kscope run args…` in this process.
func runKscope(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"run"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// runBpftrace runs bpftrace with args and returns its standard output
// without the "Attaching N probes..." line.
func runBpftrace(t *testing.T, bpftrace string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bpftrace, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("bpftrace %q: %v\n%s", args, err, errb.String())
	}
	var lines []string
	for _, l := range strings.SplitAfter(out.String(), "\n") {
		if !strings.HasPrefix(l, "Attaching ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "")
}

// TestRunMatchesBpftrace runs the same scripts under bpftrace and kscope
// run on the same deterministic workload (-c) and requires identical
// output, text and JSON, and the exact counts the workload makes.
func TestRunMatchesBpftrace(t *testing.T) {
	testutil.RequireBPF(t)
	bpftrace := testutil.Tool(t, "bpftrace", "to compare kscope run's output with")
	wl := testutil.BuildC(t, "cc", runWorkload, "-O1")
	up := testutil.BuildC(t, "cc", runUprobeWorkload, "-O1")
	cmdline := wl + " 37"
	for _, tc := range []struct {
		name, script string
		json         bool
		want         []string // lines kscope's output must have
		cmd          string   // the workload, when not cmdline
	}{
		{"counts", `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ {
	@c[comm] = count(); @s = sum(args->__syscall_nr); @st = stats(args->__syscall_nr + tid - pid);
	@a[comm, 7] = avg(110); @mi = min(tid - pid + 3); @mx = max(9); $v = 3; if ($v > 2) { @y = 4 } else { @y = 5 }
}`, false, []string{"@c[prog]: 37", "@s: 4070", "@st: count 37, average 110, total 4070", "@a[prog, 7]: 110", "@mi: 3", "@mx: 9", "@y: 4"}, ""},
		{"hist", `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @h = hist(@n); @l = lhist(@n, 0, 30, 5); @n++; }`, false,
			[]string{"[16, 32)              16 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|", "[30, ...)              7 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|", "[25, 30)               5 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@               |", "@n: 37"}, ""},
		// The opens after the getppid calls are the workload's own.
		{"printf", `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @go = 1; }
tracepoint:syscalls:sys_enter_openat /pid == cpid && @go == 1 && str(args->filename) != "/etc/ld.so.cache"/ {
	printf("%-8s|%5d|%s|%x\n", comm, args->flags & 0xff, str(args->filename), 0x2a);
}
tracepoint:syscalls:sys_exit_openat /pid == cpid && @go == 1/ { @ret[args->ret < 0] = count(); }`, false,
			[]string{"prog    |    0|/etc/hostname|2a", "prog    |    0|/nonexistent|2a", "@ret[1]: 1", "@ret[0]: 3"}, ""},
		{"json", `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @c[comm] = count(); @h[comm] = hist(@n++); } END { printf("end %s\n", "x"); }`, true,
			[]string{`{"type": "printf", "data": "end x\n"}`, `{"type": "map", "data": {"@c": {"prog": 37}}}`}, ""},
		{"wildcard", `tracepoint:syscalls:sys_enter_getp*id /pid == cpid/ { @[probe] = count(); }`, false,
			[]string{"@[tracepoint:syscalls:sys_enter_getppid]: 37"}, ""},
		{"uprobe", "uprobe:" + up + ":twice { @a = sum(arg0); @n[arg0 % 2] = count(); } uretprobe:" + up + ":twice { @r = hist(retval); }", false,
			[]string{"@a: 21", "@n[1]: 3", "@n[0]: 4", "[8, 16)                3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|"}, up + " 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cmdline
			if tc.cmd != "" {
				c = tc.cmd
			}
			args := []string{"-c", c, "-e", tc.script}
			if tc.json {
				args = append([]string{"-f", "json"}, args...)
			}
			want := runBpftrace(t, bpftrace, args...)
			code, got, stderr := runKscope(t, args...)
			if code != 0 {
				t.Fatalf("exit code %d: %s", code, stderr)
			}
			if got != want {
				t.Errorf("kscope run differs from bpftrace:\n--- kscope\n%s\n--- bpftrace\n%s", got, want)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestRunPositionalAndOutput checks $1, $2, $#, -o and -q.
func TestRunPositionalAndOutput(t *testing.T) {
	testutil.RequireBPF(t)
	out := filepath.Join(t.TempDir(), "out.txt")
	script := filepath.Join(t.TempDir(), "p.bt")
	if err := os.WriteFile(script, []byte(`BEGIN { printf("%d %s %d %s\n", $1 + 1, $2, $#, probe); @[$2] = $1; exit(); }`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runKscope(t, "-q", "-o", out, script, "41", "abc")
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "42 abc 2 BEGIN\n\n\n@[abc]: 41\n"; string(data) != want {
		t.Errorf("got %q, want %q", data, want)
	}
}

// TestRunList lists tracepoints, with their fields under -v.
func TestRunList(t *testing.T) {
	testutil.RequireBPF(t)
	code, out, stderr := runKscope(t, "-lv", "tracepoint:syscalls:sys_enter_getpp*")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "tracepoint:syscalls:sys_enter_getppid\n    int __syscall_nr\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

// TestRunErrors checks exit codes and messages for bad input.
func TestRunErrors(t *testing.T) {
	testutil.RequireBPF(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "no script: give SCRIPT.bt or -e PROGRAM"},
		{[]string{"-f", "yaml", "-e", "BEGIN {}"}, 2, `-f takes text or json, not "yaml"`},
		{[]string{"--nope"}, 2, "unknown flag: --nope"},
		{[]string{"-c", "true", "-p", "1", "-e", "BEGIN {}"}, 2, "-c and -p cannot be used together"},
		{[]string{"-e", "tracepoint:syscalls:sys_enter_getppidd { @ = count(); }"}, 1,
			"-e:1:1: unknown tracepoint syscalls:sys_enter_getppidd (did you mean tracepoint:syscalls:sys_enter_getppid?)\ntracepoint:syscalls:sys_enter_getppidd { @ = count(); }\n^"},
		{[]string{"-e", "BEGIN { @x = pdi; }"}, 1, "-e:1:14: unknown identifier \"pdi\"; did you mean pid?\nBEGIN { @x = pdi; }\n             ^"},
		{[]string{"-e", "BEGIN { @m[1] = count(); for ($kv : @m) { } }"}, 1, "-e:1:37: for over a count() map is not compiled yet"},
		{[]string{"/nonexistent.bt"}, 1, "reading the script: open /nonexistent.bt: no such file or directory"},
		{[]string{"-p", "999999999", "-e", "BEGIN { exit(); }"}, 1, "process 999999999: no such process"},
		{[]string{"-e", "tracepoint:nosuchcat:x { }"}, 1, `unknown tracepoint nosuchcat:x (there is no category "nosuchcat"`},
	} {
		code, _, stderr := runKscope(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("kscope run %q: exit %d, stderr\n%s\nwant exit %d and\n%s", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// TestRunKprobeFallback: where the kernel has neither kprobes nor fentry
// the error names both; where it has kprobes, a kprobe counts exactly.
func TestRunKprobeFallback(t *testing.T) {
	testutil.RequireBPF(t)
	wl := testutil.BuildC(t, "cc", runWorkload, "-O1")
	kerr, ferr := bpfx.ProbeFeature(bpfx.FeatKprobe), bpfx.ProbeFeature(bpfx.FeatFentry)
	code, out, stderr := runKscope(t, "-q", "-c", wl+" 5", "-e", "kprobe:__x64_sys_getppid /pid == cpid/ { @ = count(); }")
	if kerr != nil && ferr != nil {
		want := "this kernel has neither kprobe"
		if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "kscope doctor") {
			t.Errorf("exit %d, stderr %q; want exit 1 naming %q and kscope doctor", code, stderr, want)
		}
		return
	}
	if kerr != nil {
		testutil.Skip(t, "kprobe", kerr)
	}
	if code != 0 || out != "\n\n@: 5\n" {
		t.Errorf("exit %d, stdout %q, stderr %s; want @: 5", code, out, stderr)
	}
}

// TestRunRefusesGoUretprobe: a uretprobe on a Go binary would crash it.
func TestRunRefusesGoUretprobe(t *testing.T) {
	testutil.RequireBPF(t)
	bin := testutil.BuildGo(t, "package main\n\n//go:noinline\nfunc work(n int) int { return n * 2 }\n\nfunc main() { println(work(3)) }\n")
	code, _, stderr := runKscope(t, "-e", "uretprobe:"+bin+":main.work { @ = count(); }")
	if code != 1 || !strings.Contains(stderr, "is a Go binary: a uretprobe would crash it") {
		t.Errorf("exit %d, stderr %q; want exit 1 refusing the uretprobe", code, stderr)
	}
}

// TestRunRawTracepoint counts the workload's getppid calls (syscall 110)
// at raw_syscalls:sys_enter, whose arg1 is the syscall number. bpftrace
// 0.17 has no rawtracepoint probes to compare with.
func TestRunRawTracepoint(t *testing.T) {
	testutil.RequireBPF(t)
	wl := testutil.BuildC(t, "cc", runWorkload, "-O1")
	code, out, stderr := runKscope(t, "-q", "-c", wl+" 23", "-e", "rawtracepoint:sys_enter /pid == cpid && arg1 == 110/ { @[arg1] = count(); }")
	if code != 0 || out != "\n\n@[110]: 23\n" {
		t.Errorf("exit %d, stdout %q, stderr %s; want @[110]: 23", code, out, stderr)
	}
}

// TestRunCountsLostRecords overflows a one-page ring buffer from one BEGIN
// run (32 KB of records): every printf is either printed or counted as lost.
func TestRunCountsLostRecords(t *testing.T) {
	testutil.RequireBPF(t)
	var b strings.Builder
	b.WriteString("config = { perf_rb_pages = 1 } BEGIN {")
	for range 1000 {
		b.WriteString(` printf("%d\n", 1);`)
	}
	b.WriteString(" exit(); }")
	code, out, stderr := runKscope(t, "-q", "-e", b.String())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	printed := strings.Count(out, "1\n")
	var lost int
	if _, err := fmt.Sscanf(stderr, "kscope: %d printf, time and exit records lost", &lost); err != nil {
		t.Fatalf("no lost count on stderr %q (%d printed): %v", stderr, printed, err)
	}
	// 1000 printfs, plus the exit record when it is lost too (it still
	// ends the run).
	if printed+lost != 1000 && printed+lost != 1001 || lost == 0 {
		t.Errorf("%d printed + %d lost, want 1000 printf (+1 for a lost exit) with some lost", printed, lost)
	}
}

// TestRunDebug prints the generated program and the verifier's log.
func TestRunDebug(t *testing.T) {
	testutil.RequireBPF(t)
	code, out, stderr := runKscope(t, "-q", "-d", "-e", "BEGIN { printf(\"hi\\n\"); exit(); }")
	if code != 0 || out != "hi\n\n\n" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	for _, want := range []string{"; BEGIN (ks_p0)\n", "Call FnRingbufOutput", "; verifier log for BEGIN\n", "processed "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestRunCountsFullMaps: with max_map_keys = 10, ten of twenty new keys
// fit in each map; the others are counted and reported, and the
// statements after them still run.
func TestRunCountsFullMaps(t *testing.T) {
	testutil.RequireBPF(t)
	var b strings.Builder
	b.WriteString("config = { max_map_keys = 10 } BEGIN {")
	for i := range 20 {
		fmt.Fprintf(&b, " @c[%d] = count(); @p[%d] = %d;", i, i, i)
	}
	b.WriteString(` printf("after\n"); exit(); }`)
	code, out, stderr := runKscope(t, "-q", "-e", b.String())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(out, "after\n") || strings.Count(out, "@c[") != 10 || strings.Count(out, "@p[") != 10 {
		t.Errorf("stdout %q: want after, 10 @c and 10 @p", out)
	}
	if want := "kscope: 20 map updates dropped: a map was full (max_map_keys)\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}
