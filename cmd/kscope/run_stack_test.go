package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// stackWorkload calls getppid argv[1] times from inner, called by outer,
// then, with a second argument, waits for a signal (so that its mappings
// are there when kscope symbolizes its stacks).
const stackWorkload = `#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) void inner(int n) { for (int i = 0; i < n; i++) getppid(); __asm__ volatile(""); }
__attribute__((noinline)) void outer(int n) { inner(n); __asm__ volatile(""); }
int main(int argc, char **argv) { outer(atoi(argv[1])); if (argc > 2) pause(); return 0; }
`

var (
	hexAddr    = regexp.MustCompile(`0x[0-9a-f]+`)
	traceIters = regexp.MustCompile(`(?m)^ +__traceiter_sys_enter\+\d+\n`)
)

// normalizeStacks hides what differs between two runs of one workload:
// user addresses (ASLR) and the tracepoint iterator's frame, which the
// kernel's stacks have only while another program shares the tracepoint.
func normalizeStacks(s string) string {
	return traceIters.ReplaceAllString(hexAddr.ReplaceAllString(s, "0xADDR"), "")
}

// TestRunStacksMatchBpftrace: kstack and ustack as map keys (alone, in a
// tuple) and in printf, and ksym, printed as bpftrace prints them on the
// same workload.
func TestRunStacksMatchBpftrace(t *testing.T) {
	testutil.RequireBPF(t)
	bpftrace := testutil.Tool(t, "bpftrace", "to compare kscope run's output with")
	wl := testutil.BuildC(t, "cc", stackWorkload, "-O1", "-fno-omit-frame-pointer")
	// Limits (kstack(3)) are compared in TestRunStackLimits: the
	// tracepoint iterator's frame, when present, takes one of their slots.
	script := `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ {
	@k[kstack] = count(); @u[ustack] = count(); @c[comm, kstack] = count(); @p = count();
	printf("[%s]\n", kstack); printf("[%s]\n", ustack(2)); printf("%s\n", ksym(0xffffffffffffff00));
}`
	args := []string{"-c", wl + " 3", "-e", script}
	want := normalizeStacks(runBpftrace(t, bpftrace, args...))
	code, got, stderr := runKscope(t, args...)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	got = normalizeStacks(got)
	if got != want {
		t.Errorf("kscope run differs from bpftrace:\n--- kscope\n%s\n--- bpftrace\n%s", got, want)
	}
	// The user stack: getppid in libc, then (frame pointers) outer, main
	// and libc: four frames, unsymbolized since the process is gone.
	for _, w := range []string{"@p: 3\n", "@u[\n    0xADDR\n    0xADDR\n    0xADDR\n    0xADDR\n]: 3\n", "[\n        0xADDR\n        0xADDR\n]\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
	kstack := regexp.MustCompile(`(?m)^@k\[\n    perf_syscall_enter\+\d+\n(    \w+\+\d+\n)*    do_syscall_64\+\d+\n    entry_SYSCALL_64_after_hwframe\+\d+\n\]: 3$`)
	if !kstack.MatchString(got) {
		t.Errorf("no kernel stack from perf_syscall_enter to entry_SYSCALL_64_after_hwframe counted 3 times:\n%s", got)
	}
}

// TestRunStackLimits: kstack(N) keeps the innermost N frames.
func TestRunStackLimits(t *testing.T) {
	testutil.RequireBPF(t)
	wl := testutil.BuildC(t, "cc", stackWorkload, "-O1", "-fno-omit-frame-pointer")
	code, out, stderr := runKscope(t, "-q", "-c", wl+" 3", "-e",
		`tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @c[comm, kstack(3)] = count(); printf("[%s]\n", kstack(bpftrace, 2)); }`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	printed := regexp.MustCompile(`\[\n        perf_syscall_enter\+\d+\n        \w+\+\d+\n\]\n`)
	key := regexp.MustCompile(`@c\[prog, \n    perf_syscall_enter\+\d+\n    \w+\+\d+\n    \w+\+\d+\n\]: 3\n`)
	if n := len(printed.FindAllString(out, -1)); n != 3 || !key.MatchString(out) {
		t.Errorf("want three 2-frame stacks printed and one 3-frame stack counted 3 times, got (%d printed)\n%s", n, out)
	}
}

// TestRunUstackSymbolized: a user stack printed while its process lives
// (printf) or remembered from then (the map) is symbolized, func+offset.
func TestRunUstackSymbolized(t *testing.T) {
	testutil.RequireBPF(t)
	wl := testutil.BuildC(t, "cc", stackWorkload, "-O1", "-fno-omit-frame-pointer")
	code, out, stderr := runKscope(t, "-q", "-c", wl+" 1 wait", "-e",
		`tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { printf("%s|\n", ustack(3)); @[ustack(3)] = count(); exit(); }`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := regexp.MustCompile(`^\n        (__)?getppid\+\d+\n        outer\+\d+\n        main\+\d+\n\|\n\n\n@\[\n    (__)?getppid\+\d+\n    outer\+\d+\n    main\+\d+\n\]: 1\n$`)
	if !want.MatchString(out) {
		t.Errorf("got %q, want getppid, outer and main, symbolized", out)
	}
}

// usymWorkload passes cb to call(f, v) argv[1] times, then with a second
// argument waits for a signal.
const usymWorkload = `#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) long cb(long x) { __asm__ volatile(""); return x + 1; }
__attribute__((noinline)) long call(long (*f)(long), long v) { __asm__ volatile(""); return f(v); }
int main(int argc, char **argv) { long s = 0; for (int i = 0; i < atoi(argv[1]); i++) s += call(cb, i); if (argc > 2) pause(); return s == 0; }
`

// TestRunUsym resolves a function pointer argument with usym, in printf
// as bpftrace does, and as a map key (bpftrace prints that one as an
// address: its process is gone when it prints; kscope remembered it).
func TestRunUsym(t *testing.T) {
	testutil.RequireBPF(t)
	bpftrace := testutil.Tool(t, "bpftrace", "to compare kscope run's output with")
	wl := testutil.BuildC(t, "cc", usymWorkload, "-O1")
	args := []string{"-c", wl + " 3 wait", "-e", "uprobe:" + wl + `:call { printf("%s|%s\n", usym(arg0), usym(1)); @[usym(arg0)] = count(); if (@n++ == 2) { exit(); } }`}
	want, _, _ := strings.Cut(runBpftrace(t, bpftrace, args...), "\n\n\n")
	code, got, stderr := runKscope(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if printed, _, _ := strings.Cut(got, "\n\n\n"); printed != want {
		t.Errorf("printf differs from bpftrace:\n--- kscope\n%s\n--- bpftrace\n%s", printed, want)
	}
	if w := "cb|0x1\ncb|0x1\ncb|0x1\n\n\n@[cb]: 3\n@n: 3\n"; got != w {
		t.Errorf("got %q, want %q", got, w)
	}
}
