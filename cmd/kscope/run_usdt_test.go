package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// usdtScript reads every argument kind of testutil.USDTProgram's probes
// but the rip-relative global (see TestRunUSDTGlobal).
const usdtScript = `usdt:%[1]s:kscope:sized { printf("%%s %%d %%d %%d %%ld %%lu\n", probe, arg0, arg1, arg2, arg3, arg4); }
usdt:%[1]s:kscope:mem { printf("mem %%ld %%d\n", arg0, arg1); @m = sum(arg1); }
usdt:%[1]s:kscope:indexed { printf("indexed %%d\n", arg0); }
usdt:%[1]s:kscope:str { printf("str %%s %%d\n", str(arg0), arg1); }
usdt:%[1]s:konst { @k[arg0] = count(); }
usdt:%[1]s:kscope:guarded { @g = count(); @s = sum(arg0); }
`

// TestRunUSDTMatchesBpftrace runs the same usdt script under bpftrace and
// kscope run on the USDT workload: register, memory, base+index*scale and
// constant arguments of every size and sign, a string argument, a probe
// named without its provider and one guarded by a semaphore (which fires
// only while the probe is attached).
func TestRunUSDTMatchesBpftrace(t *testing.T) {
	testutil.RequireBPF(t)
	bpftrace := testutil.Tool(t, "bpftrace", "to compare kscope run's output with")
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	script := fmt.Sprintf(usdtScript, bin)
	args := []string{"-c", bin + " 3", "-e", script}
	// bpftrace's -c command writes to bpftrace's standard output: drop its
	// one line (the workload's sum and c_fib call count).
	want := strings.Replace(runBpftrace(t, bpftrace, args...), "573 531\n", "", 1)
	code, got, stderr := runKscope(t, args...)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	if got != want {
		t.Errorf("kscope run differs from bpftrace:\n--- kscope\n%s\n--- bpftrace\n%s", got, want)
	}
	sized := "usdt:" + bin + ":kscope:sized -5 65000 -100000 -1234567890123 18446744073709551615\n"
	once := sized + "mem -77 1234\nstr hello usdt 10\nindexed -4\n"
	if w := strings.Repeat(once, 3) + "\n\n@g: 3\n@k[5]: 3\n@m: 3702\n@s: 3\n"; got != w {
		t.Errorf("got\n%s\nwant\n%s", got, w)
	}
}

// TestRunUSDTGlobal reads a rip-relative operand (global_counter, 41),
// which bpftrace 0.17 cannot ("deref ident is not handled yet").
func TestRunUSDTGlobal(t *testing.T) {
	testutil.RequireBPF(t)
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	code, out, stderr := runKscope(t, "-q", "-c", bin+" 2", "-e", "usdt:"+bin+":kscope:global { @[arg0] = count(); }")
	if code != 0 || out != "\n\n@[41]: 2\n" {
		t.Errorf("exit %d, stdout %q, stderr %s; want @[41]: 2", code, out, stderr)
	}
}

// TestRunUSDTErrors: an unknown probe names the ones the binary has; an
// argument the probe does not have is a compile error at its position.
func TestRunUSDTErrors(t *testing.T) {
	testutil.RequireBPF(t)
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	for _, tc := range []struct{ prog, want string }{
		{"usdt:" + bin + ":kscope:nope { }", "-e:1:1: no USDT probe kscope:nope in " + bin + "; it has: kscope:global, kscope:guarded, kscope:indexed, kscope:konst, kscope:mem, kscope:sized, kscope:str\n"},
		{"usdt:" + bin + ":kscope:konst { @ = arg1; }", "-e:1:" + strconv.Itoa(len("usdt:"+bin+":kscope:konst { @ = ")+1) + ": arg1: usdt:" + bin + ":kscope:konst has 1 arguments\n"},
		{"usdt:/nonexistent/bin:a:b { }", "-e:1:1: "},
	} {
		code, _, stderr := runKscope(t, "-e", tc.prog)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr\n%s\nwant exit 1 and\n%s", tc.prog, code, stderr, tc.want)
		}
	}
}

// TestRunListUserProbes lists a binary's functions and USDT probes
// exactly as bpftrace -l does.
func TestRunListUserProbes(t *testing.T) {
	testutil.RequireBPF(t)
	bpftrace := testutil.Tool(t, "bpftrace", "to compare kscope run -l with")
	bin := testutil.BuildC(t, "gcc", testutil.USDTProgram, "-O2")
	for _, pattern := range []string{"uprobe:/bin/bash:*", "uprobe:" + bin + ":c_*", "usdt:" + bin + ":*", "usdt:" + bin + ":kscope:s*", "usdt:" + bin + ":g*"} {
		want := runBpftrace(t, bpftrace, "-l", pattern)
		code, got, stderr := runKscope(t, "-l", pattern)
		if code != 0 || got != want {
			t.Errorf("-l %s: exit %d (%s)\n--- kscope\n%s\n--- bpftrace\n%s", pattern, code, stderr, got, want)
		}
	}
	code, got, _ := runKscope(t, "-l", "usdt:"+bin+":kscope:g*")
	if want := "usdt:" + bin + ":kscope:global\nusdt:" + bin + ":kscope:guarded\n"; code != 0 || got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	code, got, _ = runKscope(t, "-l", "uprobe:"+bin+":c_*")
	if want := "uprobe:" + bin + ":c_add\nuprobe:" + bin + ":c_fib\n"; code != 0 || got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
