package probe

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// TestAgreesWithBpftrace accepts and rejects the same scripts as bpftrace
// does: each script is checked by Load and by bpftrace's dry run
// (bpftrace -d), which parses and type-checks without attaching. The
// scripts use only BEGIN, END and interval probes and the language of
// bpftrace 0.17, Debian's version. kscope also accepts what later
// bpftrace versions added and 0.17 rejects (exit(code), delete(@m, key),
// tuple map keys, offsetof, hist(n, k), for loops, let), and rejects a
// printf format that ends inside a conversion ("%5"), which 0.17 prints
// as is; those are not in this table.
func TestAgreesWithBpftrace(t *testing.T) {
	for _, tc := range []struct {
		src string
		ok  bool
	}{
		{`BEGIN { printf("%d %s\n", pid, comm); exit(); }`, true},
		{`BEGIN { @[comm, pid] = count(); @s = sum(1); @h = hist(5); @l = lhist(5, 0, 100, 10); @st = stats(1); }`, true},
		{`BEGIN { $x = 1; if ($x > 0) { $x++; } else { $x = 2; } $y = $x > 1 ? "a" : "b"; printf("%s\n", $y); }`, true},
		{`BEGIN { $t = (1, "two"); printf("%d %s\n", $t.0, $t.1); }`, true},
		{`BEGIN { $i = 0; while ($i < 5) { $i++; if ($i == 3) { break; } } unroll(2) { $i += 1; } }`, true},
		{`BEGIN { @start[tid] = nsecs; } END { printf("%d\n", @start[tid]); delete(@start[tid]); clear(@start); }`, true},
		{`i:s:1 { @x = count(); } END { print(@x); }`, true},
		{`BEGIN { $x = 1 + 2 * 3 - 4 / 2 % 3 << 1 >> 1 | 3 & 4 ^ 5; $y = !$x || ~$x && -$x != $x; }`, true},
		{`BEGIN { $x = +1; }`, false},
		{`BEGIN { printf("%s\n", str($1)); printf("%d\n", $#); }`, true},
		{`BEGIN { $s = "a\tb\n\x41\101"; if ($s == "x") { exit(); } }`, true},
		{"// c\n/* d\n */\nBEGIN { /* e */ }\n", true},
		{`BEGIN { printff("x"); }`, false},
		{`BEGN { }`, false},
		{`BEGIN { $x = 1; $x = "s"; }`, false},
		{`BEGIN { @m[1] = 1; @m["a"] = 2; }`, false},
		{`BEGIN { printf("%d\n", "s"); }`, false},
		{`i:s:1 { @x = count(); @x = sum(1); }`, false},
		{`BEGIN { $x = pid > 1 ? "a" : 2; }`, false},
		{`BEGIN { $x = 1; } END { $y = $x; }`, false},
		{`END { clear(@map1); }`, false},
		{`BEGIN { printf("x") printf("y") }`, false},
		{`BEGIN { $x = count(); }`, false},
		{`BEGIN { break; }`, false},
		{`BEGIN { $x = "a" + 1; }`, false},
		{`BEGIN { $x = 5ms; }`, false},
		{`BEGIN { @x++; @y += 2; @z = count(); print(@z, 10); print(1); print("s"); print((1, "a")); }`, true},
		{`BEGIN { printf("%llu %-5s %5.2d %c %u %x %X %o %p %hhu %lld %%\n", 1, "a", 2, 65, 1, 2, 3, 4, 5, 6, 7); }`, true},
		{`BEGIN { $x = (uint8)1; $y = (int32)$x; $s = sizeof(struct task_struct); $t = sizeof(1); }`, true},
		{`BEGIN { @x[kstack] = count(); @y[ustack(3)] = count(); @z[kstack(perf, 3)] = count(); }`, true},
		{`BEGIN { $x = ksym(0); $y = usym(1); printf("%s %s %s\n", $x, $y, strftime("%H", nsecs)); time("%H\n"); }`, true},
		{`BEGIN { $a = str(1, 2); $b = buf(1, 2); $c = ntop(1); $d = strncmp("a", "b", 1); $e = strcontains("a", "b"); }`, true},
		{`BEGIN { $x = nsecs + elapsed + rand + cpu + cgroup + uid + gid + numaid; $u = username; $p = probe; }`, true},
		{`BEGIN { @x = min(1); @x = min(2); @y = max(-1); @z = stats(1); @w = avg(3); }`, true},
		{`BEGIN { $x++; }`, false},
		{`BEGIN { time(1); }`, false},
		{`BEGIN { if ("a" < "b") { } }`, false},
		{`BEGIN { $x = func; }`, false},
		{`BEGIN { $x = arg0; }`, false},
		{`BEGIN { $x = args; }`, false},
		{`BEGIN { $x = retval; }`, false},
		{`BEGIN { $x = reg("ip"); }`, false},
		{`BEGIN { $x = uaddr("main"); }`, false},
		{`BEGIN { $x = cpid; }`, false},
		{`BEGIN { system("ls"); }`, false},
		{`BEGIN { signal("KILL"); }`, false},
		{`BEGIN { override(1); }`, false},
		{`BEGIN { @x = lhist(1, 0, 10); }`, false},
		{`BEGIN { @x = count(1); }`, false},
		{`BEGIN { @x = avg("s"); }`, false},
		{`BEGIN { @x = hist(1); $y = @x + 1; }`, false},
		{`BEGIN { @x = 1; @x = count(); }`, false},
		{`BEGIN { @x[1] = 1; $y = @x[1, 2]; }`, false},
		{`BEGIN { printf("%d\n"); }`, false},
		{`BEGIN { printf("%s\n", 1); }`, false},
		{`BEGIN { printf("%d\n", comm); }`, false},
		{`BEGIN { $x = &pid; }`, false},
		{`BEGIN { unroll(0) { } }`, false},
	} {
		_, err := Load("t.bt", []byte(tc.src), nil)
		if got := err == nil; got != tc.ok {
			t.Errorf("kscope on %q: accepted %v, want %v: %v", tc.src, got, tc.ok, err)
		}
		ok, out := bpftraceAccepts(t, tc.src)
		if ok != tc.ok {
			t.Errorf("bpftrace on %q: accepted %v, want %v:\n%s", tc.src, ok, tc.ok, out)
		}
	}
}

// bpftraceAccepts runs bpftrace's dry run on src.
func bpftraceAccepts(t *testing.T, src string) (bool, string) {
	t.Helper()
	bin, err := exec.LookPath("bpftrace")
	if err != nil {
		testutil.Skip(t, "the bpftrace package (bpftrace -d)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-d", "-e", src)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil {
		if _, exit := err.(*exec.ExitError); !exit || ctx.Err() != nil {
			t.Fatalf("running bpftrace -d: %v", err)
		}
	}
	text := out.String()
	if i := strings.Index(text, "stdin:"); i >= 0 {
		text = text[i:]
	}
	if i := strings.Index(text, "ERROR"); i >= 0 {
		text = text[i:]
	} else if len(text) > 2000 {
		text = text[:2000]
	}
	return err == nil, text
}
