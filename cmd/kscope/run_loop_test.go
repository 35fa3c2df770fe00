package main

import (
	"sort"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// TestRunLoopsMatchBpftrace: while with break and continue, unroll, and
// a bounded while in a tracepoint, under both tools.
func TestRunLoopsMatchBpftrace(t *testing.T) {
	testutil.RequireBPF(t)
	bpftrace := testutil.Tool(t, "bpftrace", "to compare kscope run's output with")
	wl := testutil.BuildC(t, "cc", runWorkload, "-O1")
	for _, tc := range []struct{ name, script, want string }{
		{"begin", `BEGIN { $i = 0; $s = 0; while ($i < 10) { $i++; if ($i == 3) { continue; } if ($i > 7) { break; } $s += $i; } unroll(3) { @u++; $s++; } printf("%d %d\n", $i, $s); exit(); }`,
			"8 28\n\n\n@u: 3\n"},
		// 50 iterations per call: 17 of them with $j % 3 == 1 and == 2, 16 with 0.
		{"tracepoint", `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { $j = 0; while ($j < 50) { $j += 1; @n[$j % 3] = count(); } @c = count(); }`,
			"\n\n@c: 2\n@n[0]: 32\n@n[1]: 34\n@n[2]: 34\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-c", wl + " 2", "-e", tc.script}
			want := runBpftrace(t, bpftrace, args...)
			code, got, stderr := runKscope(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if sortedLines(got) != sortedLines(want) || got != tc.want {
				t.Errorf("got\n%s\nbpftrace (ties in any order)\n%s\nwant\n%s", got, want, tc.want)
			}
		})
	}
}

// sortedLines returns s's lines sorted: the same output with entries of
// equal value in another order (bpftrace's hash order) compares equal.
func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
