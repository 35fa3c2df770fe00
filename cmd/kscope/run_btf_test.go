package main

import (
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// nanosleepWorkload sleeps three times, 1000, 2000 and 3000 ns.
const nanosleepWorkload = `#include <time.h>
int main(void) { struct timespec ts = { 0, 0 }; for (int i = 0; i < 3; i++) { ts.tv_nsec = 1000 * (i + 1); nanosleep(&ts, 0); } return 0; }
`

// TestRunBTFMatchesBpftrace reads struct members through the kernel's
// BTF, as bpftrace does: a cast to a struct pointer kept in a $local,
// curtask, -> chains, an embedded struct's member (.), char arrays as
// strings (in printf and as a map key), and members of a syscall
// tracepoint's user pointer (args->rqtp->tv_nsec).
func TestRunBTFMatchesBpftrace(t *testing.T) {
	testutil.RequireBPF(t)
	bpftrace := testutil.Tool(t, "bpftrace", "to compare kscope run's output with")
	wl := testutil.BuildC(t, "cc", runWorkload, "-O1")
	ns := testutil.BuildC(t, "cc", nanosleepWorkload, "-O1")
	for _, tc := range []struct{ name, cmd, script, want string }{
		{"task", wl + " 3", `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ {
	$t = (struct task_struct *)curtask;
	printf("%d %d %s %s %d\n", $t->pid == pid, curtask->real_parent->tgid == $t->real_parent->tgid, $t->comm, curtask->group_leader->comm, $t->se.on_rq);
	@[$t->comm] = count();
}`, "1 1 prog prog 1\n1 1 prog prog 1\n1 1 prog prog 1\n\n\n@[prog]: 3\n"},
		{"user", ns, `tracepoint:syscalls:sys_enter_clock_nanosleep /pid == cpid/ { printf("%d %d\n", args->rqtp->tv_sec, args->rqtp->tv_nsec); @s = sum(args->rqtp->tv_nsec); }`,
			"0 1000\n0 2000\n0 3000\n\n\n@s: 6000\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-c", tc.cmd, "-e", tc.script}
			want := runBpftrace(t, bpftrace, args...)
			code, got, stderr := runKscope(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if got != want || got != tc.want {
				t.Errorf("got\n%s\nbpftrace\n%s\nwant\n%s", got, want, tc.want)
			}
		})
	}
}

// TestRunBTFConstantsAndErrors: enum constants come from BTF, a few
// macros from kscope's table; a missing member names the struct.
func TestRunBTFConstantsAndErrors(t *testing.T) {
	testutil.RequireBPF(t)
	code, out, stderr := runKscope(t, "-q", "-e", "BEGIN { @[TCP_FIN_WAIT1, AF_INET6, TASK_RUNNING] = 1; exit(); }")
	if code != 0 || out != "\n\n@[4, 10, 0]: 1\n" {
		t.Errorf("exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	for _, tc := range []struct{ prog, want string }{
		{"BEGIN { @ = curtask->nope; }", "-e:1:20: struct task_struct has no member \"nope\""},
		{"BEGIN { @ = curtask.pid; }", "-e:1:20: . on a pointer (use ->)"},
		{"BEGIN { @ = ((struct nosuch *)0)->x; }", "the kernel's BTF has no struct nosuch"},
		{"BEGIN { @ = curtask->se; }", "member se is a struct sched_entity: read one of its members"},
	} {
		code, _, stderr := runKscope(t, "-e", tc.prog)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr\n%s\nwant exit 1 and %s", tc.prog, code, stderr, tc.want)
		}
	}
}
