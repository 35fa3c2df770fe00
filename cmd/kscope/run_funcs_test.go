package main

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// runFuncsWorkload passes known bytes and stack arguments to functions
// uprobes read, calls tw_a once and tw_b twice, then writes to 256 fresh pages between two getppid calls
// (huge pages off: one page fault per page).
const runFuncsWorkload = `#include <sys/mman.h>
#include <unistd.h>
char glob[8] = "glob";
__attribute__((noinline)) long take(const char *p, long n) { __asm__ volatile(""); return n; }
__attribute__((noinline)) long tw_a(long x) { __asm__ volatile(""); return x; }
__attribute__((noinline)) long tw_b(long x) { __asm__ volatile(""); return x; }
__attribute__((noinline)) long many(long a, long b, long c, long d, long e, long f, long g, long h) {
	__asm__ volatile(""); return a + b + c + d + e + f + g + h;
}
int main(void) {
	static char data[] = "\x01hi\xff";
	volatile char touch = data[0] + glob[0]; /* a probe cannot read a page not yet mapped */
	(void)touch;
	take(data, 4);
	many(1, 2, 3, 4, 5, 6, 70, 80);
	tw_a(1), tw_b(2), tw_b(3);
	size_t n = 256 * 4096;
	char *m = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) return 1;
	madvise(m, n, MADV_NOHUGEPAGE);
	getppid();
	for (size_t i = 0; i < n; i += 4096) m[i] = 1;
	getppid();
	return 0;
}
`

// runConnectWorkload connects over TCP to a listener on 127.0.0.1, then
// to one on ::1.
const runConnectWorkload = `#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static int dial(int family, const char *addr) {
	struct sockaddr_storage ss; socklen_t len;
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss; a->sin_family = AF_INET; inet_pton(AF_INET, addr, &a->sin_addr); len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss; a->sin6_family = AF_INET6; inet_pton(AF_INET6, addr, &a->sin6_addr); len = sizeof *a;
	}
	int l = socket(family, SOCK_STREAM, IPPROTO_TCP);
	if (bind(l, (struct sockaddr *)&ss, len) || listen(l, 1) || getsockname(l, (struct sockaddr *)&ss, &len)) return 1;
	int c = socket(family, SOCK_STREAM, IPPROTO_TCP);
	if (connect(c, (struct sockaddr *)&ss, len)) return 1;
	close(c); close(l);
	return 0;
}
int main(void) { return dial(AF_INET, "127.0.0.1") | dial(AF_INET6, "::1"); }
`

// runSpreadWorkload calls getppid 37 times, moving to the next CPU
// before each call.
const runSpreadWorkload = `#define _GNU_SOURCE
#include <sched.h>
#include <unistd.h>
int main(void) {
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	for (int i = 0; i < 37; i++) {
		cpu_set_t s; CPU_ZERO(&s); CPU_SET(i % n, &s);
		sched_setaffinity(0, sizeof s, &s);
		getppid();
	}
	return 0;
}
`

// ownCgroup2 returns the cgroup v2 directory of this process.
func ownCgroup2(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			for _, root := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
				if _, err := os.Stat(root + "/cgroup.controllers"); err == nil || root == "/sys/fs/cgroup/unified" {
					if _, err := os.Stat(root + p); err == nil {
						return root + p
					}
				}
			}
		}
	}
	testutil.Skip(t, "cgroup v2", errors.New("no cgroup v2 directory for this process"))
	return ""
}

// TestRunFunctions runs one script per function on a known workload and
// requires its exact output; where bpftrace 0.17 has the function, it
// runs the same script and must print the same.
func TestRunFunctions(t *testing.T) {
	testutil.RequireBPF(t)
	wl := testutil.BuildC(t, "cc", runFuncsWorkload, "-O1", "-no-pie")
	conn := testutil.BuildC(t, "cc", runConnectWorkload, "-O1")
	spread := testutil.BuildC(t, "cc", runSpreadWorkload, "-O1")
	cg := ownCgroup2(t)
	catFile := t.TempDir() + "/cat.txt"
	if err := os.WriteFile(catFile, []byte("hello\nworld"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, script string
		flags        []string // before -e
		want         string   // the exact output
		bpftrace     bool     // bpftrace 0.17 runs it too
	}{
		{"strncmp", `BEGIN { printf("%d %d %d %d\n", strncmp("abcd", "abxy", 2), strncmp("abcd", "abxy", 3), strncmp("ab", "abc", 2), strncmp("ab", "abc", 3)); exit(); }`,
			nil, "0 1 0 1\n\n\n", true},
		{"ntop", `BEGIN { printf("%s|%s|%s\n", ntop(0x0100007f), ntop(2, 0x0101a8c0), ntop(2, 0)); @[ntop(0x0100007f), 1] = count(); exit(); }`,
			nil, "127.0.0.1|192.168.1.1|0.0.0.0\n\n\n@[127.0.0.1, 1]: 1\n", true},
		{"rendered locals", `BEGIN { $a = ntop(0x0100007f); if ($# == 0) { $a = ntop(0x0200007f); } $u = username; printf("%s %s\n", $a, $u); @[$a, $u] = count(); exit(); }`,
			nil, "127.0.0.2 root\n\n\n@[127.0.0.2, root]: 1\n", true},
		{"rendered map values", `BEGIN { @a[1] = ntop(0x0100007f); @b = ntop(0x0200007f); @u = username; @x[@a[1], @b] = count(); exit(); }`,
			nil, "\n\n@a[1]: 127.0.0.1\n@b: 127.0.0.2\n@u: root\n@x[127.0.0.1, 127.0.0.2]: 1\n", true},
		{"char array map values", "uprobe:" + wl + `:take { @c[1] = curtask->comm; @d = curtask->comm; printf("%s %s\n", @c[1], @d); }`,
			[]string{"-c", wl}, "prog prog\n\n\n@c[1]: prog\n@d: prog\n", true},
		{"join", `tracepoint:syscalls:sys_enter_execve /pid == cpid/ { join(args->argv); join(args->argv, ","); }`,
			[]string{"-c", "/usr/bin/true a bb ccc"}, "/usr/bin/true a bb ccc\n/usr/bin/true,a,bb,ccc\n\n\n", true},
		{"ntop of arrays", `tracepoint:sock:inet_sock_set_state /pid == cpid && args->newstate == 2/ { printf("%d %s %s %s\n", args->family, ntop(args->daddr), ntop(args->daddr_v6), ntop(args->family, args->daddr_v6)); @[ntop(args->daddr_v6)] = sum(args->family); }`,
			[]string{"-c", conn}, "2 127.0.0.1 ::ffff:127.0.0.1 0.0.0.0\n10 0.0.0.0 ::1 ::1\n\n\n@[::ffff:127.0.0.1]: 2\n@[::1]: 10\n", true},
		{"buf", "uprobe:" + wl + `:take { printf("%r|%r|%r\n", buf(arg0, arg1), buf(arg0, 2), buf(arg0, 0)); @[buf(arg0, 3)] = count(); }`,
			[]string{"-c", wl}, `\x01hi\xff|\x01h|` + "\n\n\n" + `@[\x01hi]: 1` + "\n", true},
		{"reg and sarg", "uprobe:" + wl + `:many { printf("%d %d %d %d\n", reg("di"), reg("si") + arg1, sarg0, sarg1); }`,
			[]string{"-c", wl}, "1 4 70 80\n\n\n", true},
		{"uprobe wildcard", "uprobe:" + wl + `:tw_* { @[probe] = count(); }`,
			[]string{"-c", wl}, "\n\n@[uprobe:" + wl + ":tw_a]: 1\n@[uprobe:" + wl + ":tw_b]: 2\n", true},
		{"uaddr", "uprobe:" + wl + `:take { printf("%lx\n", uaddr("glob")); }`,
			[]string{"-c", wl}, strconv.FormatUint(symbolAddr(t, wl, "glob"), 16) + "\n\n\n", true},
		{"cgroupid, username, numaid", `BEGIN { printf("%d %s %d\n", cgroup == cgroupid("` + cg + `"), username, numaid); @u[username] = count(); exit(); }`,
			nil, "1 root 0\n\n\n@u[root]: 1\n", true},
		{"kaddr", `BEGIN { printf("%lx\n", kaddr("_stext")); exit(); }`,
			nil, strconv.FormatUint(kallsym(t, "_stext"), 16) + "\n\n\n", true},
		{"sizeof", `BEGIN { printf("%d %d %d %d\n", sizeof(int32), sizeof(uint8), sizeof(struct list_head), sizeof(curtask->pid)); exit(); }`,
			nil, "4 1 16 4\n\n\n", true},
		{"offsetof", `BEGIN { printf("%d %d\n", offsetof(struct list_head, prev), offsetof(struct sk_buff, len) > 0); exit(); }`,
			nil, "8 1\n\n\n", false},
		// The count's per-CPU copies add up to 37 wherever the calls ran.
		{"reading aggregations", `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @c = count(); @s = sum(2); @a = avg(cpu * 0 + 4); @mx = max(7); }
tracepoint:syscalls:sys_exit_getppid /pid == cpid/ { @last = @c; @sum = @s; @avg = @a; @max = @mx; }`,
			[]string{"-c", spread}, "\n\n@a: 4\n\n@avg: 4\n@c: 37\n@last: 37\n@max: 7\n@mx: 7\n@s: 74\n@sum: 74\n", false},
		{"for over a range", `BEGIN { $s = 0; for ($i : 0..6) { if ($i == 1) { continue; } if ($i == 4) { break; } $s += $i; printf("%d ", $i); } for ($j : 3..$#) { printf("never\n"); } printf("s=%d\n", $s); exit(); }`,
			nil, "0 2 3 s=5\n\n\n", false},
		// Hash order is the kernel's: the output does not depend on it.
		{"for over a map", `BEGIN { @m[1] = 10; @m[2] = 20; @m[3] = 30; @s["a", 3] = "x";
	for ($kv : @m) { if ($kv.0 == 2) { continue; } @sum += $kv.1; }
	for ($kv : @m) { @seen++; break; }
	for ($e : @s) { printf("%s %d %s\n", $e.0.0, $e.0.1, $e.1); for ($kv : @m) { @inner += $kv.0; } }
	exit(); }`,
			nil, "a 3 x\n\n\n@inner: 6\n@m[1]: 10\n@m[2]: 20\n@m[3]: 30\n@s[a, 3]: x\n@seen: 1\n@sum: 40\n", false},
		{"strcontains", `BEGIN { printf("%d %d %d %d\n", strcontains("hello world", "o w"), strcontains("hello", "lo!"), strcontains("abc", ""), strcontains("ab", "abc")); exit(); }`,
			nil, "1 0 1 0\n\n\n", false},
		{"strftime", `BEGIN { printf("%s\n", strftime("%Y", nsecs)); @[strftime("%Y", nsecs)] = count(); exit(); }`,
			nil, strconv.Itoa(time.Now().Year()) + "\n\n\n@[" + strconv.Itoa(time.Now().Year()) + "]: 1\n", true},
		{"cat and system", `BEGIN { cat("%s", "` + catFile + `"); printf("|\n"); system("echo hi %d", 5); printf("|\n"); exit(); }`,
			[]string{"--unsafe"}, "hello\nworld|\nhi 5\n|\n\n\n", true},
		{"signal", `tracepoint:syscalls:sys_enter_clock_nanosleep /pid == cpid/ { signal("KILL"); printf("killed\n"); }`,
			[]string{"--unsafe", "-c", "/usr/bin/sleep 60"}, "killed\n\n\n", true},
		{"software page-faults", `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @on = 1 - @on; }
software:page-faults:1 /pid == cpid && @on == 1/ { @faults = count(); }`,
			[]string{"-c", wl}, "\n\n@faults: 256\n@on: 0\n", true},
		{"software minor-faults", `tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @on = 1 - @on; }
software:minor-faults:1 /pid == cpid && @on == 1/ { @faults = count(); }`,
			[]string{"-c", wl}, "\n\n@faults: 256\n@on: 0\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"-q"}, tc.flags...), "-e", tc.script)
			code, got, stderr := runKscope(t, args...)
			if code != 0 {
				t.Fatalf("exit code %d: %s", code, stderr)
			}
			if got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
			if !tc.bpftrace {
				return
			}
			bpftrace := testutil.Tool(t, "bpftrace", "to compare kscope run's output with")
			if want := runBpftrace(t, bpftrace, args...); got != want {
				t.Errorf("kscope run differs from bpftrace:\n--- kscope\n%q\n--- bpftrace\n%q", got, want)
			}
		})
	}
}

// TestRunFunctionErrors checks the errors of functions used wrongly.
func TestRunFunctionErrors(t *testing.T) {
	testutil.RequireBPF(t)
	for _, tc := range []struct{ script, want string }{
		{`BEGIN { system("true"); }`, "-e:1:9: system() is unsafe: allow it with --unsafe"},
		{`tracepoint:syscalls:sys_enter_getppid { signal("KILL"); }`, "-e:1:41: signal() is unsafe: allow it with --unsafe"},
		{`BEGIN { printf("%d\n", kaddr("no_such_symbol_here")); }`, `-e:1:30: kaddr("no_such_symbol_here"): the kernel has no symbol no_such_symbol_here`},
		{`BEGIN { printf("%d\n", cgroupid("/nonexistent")); }`, `-e:1:33: cgroupid("/nonexistent"): reading the cgroup id of /nonexistent: no such file or directory`},
		{`BEGIN { printf("%d\n", reg("ip")); }`, "-e:1:24: reg() is not available in begin probes"},
		{`tracepoint:syscalls:sys_enter_getppid { printf("%d\n", reg("ip")); }`, `-e:1:56: reg() is not available in tracepoint probes`},
		{`profile:hz:99 { printf("%d\n", reg("xx")); }`, `-e:1:36: unknown register "xx"`},
		{`BEGIN { printf("%d\n", sizeof(struct no_such_struct)); }`, "the kernel's BTF has no struct no_such_struct"},
		{`hardware:cycles:1000000 { @ = count(); }`, "hardware:cycles:1000000"},
	} {
		code, _, stderr := runKscope(t, "-e", tc.script)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit code %d, stderr\n%s\nwant code 1 and %q", tc.script, code, stderr, tc.want)
		}
	}
}

// TestRunHardwareEvents attaches a hardware event where the machine has a
// PMU and, where it has none, requires the error that says so.
func TestRunHardwareEvents(t *testing.T) {
	testutil.RequireBPF(t)
	_, err := os.Stat("/sys/bus/event_source/devices/cpu")
	code, got, stderr := runKscope(t, "-q", "-c", "true", "-e", `hardware:instructions:1000 /pid == cpid/ { @ = 1; }`)
	if err != nil {
		want := "this machine has no hardware performance monitoring unit (PMU) for instructions"
		if code != 1 || !strings.Contains(stderr, want) {
			t.Fatalf("no PMU: exit code %d, stderr %q; want 1 and %q", code, stderr, want)
		}
		return
	}
	if code != 0 || got != "\n\n@: 1\n" {
		t.Fatalf("exit code %d, output %q, stderr %q", code, got, stderr)
	}
}

// TestRunExitCode checks exit(code): kscope exits with it.
func TestRunExitCode(t *testing.T) {
	testutil.RequireBPF(t)
	code, got, stderr := runKscope(t, "-q", "-e", `BEGIN { @a = 1; exit(7); }`)
	if code != 7 || got != "\n\n@a: 1\n" || stderr != "" {
		t.Fatalf("exit code %d, output %q, stderr %q; want 7, the map and no error", code, got, stderr)
	}
	code, _, _ = runKscope(t, "-q", "-e", `BEGIN { exit(256 + 3); }`)
	if code != 3 {
		t.Fatalf("exit(259): exit code %d, want 3 (the low 8 bits)", code)
	}
}

// symbolAddr returns the address nm gives a symbol of a binary.
func symbolAddr(t *testing.T, bin, name string) uint64 {
	t.Helper()
	out := testutil.Run(t, "nm", bin)
	m := regexp.MustCompile(`(?m)^([0-9a-f]+) \w ` + name + `$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("nm %s: no %s", bin, name)
	}
	v, _ := strconv.ParseUint(m[1], 16, 64)
	return v
}

// kallsym returns the address of a kernel symbol.
func kallsym(t *testing.T, name string) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^([0-9a-f]+) \w ` + name + `$`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no %s in /proc/kallsyms", name)
	}
	v, _ := strconv.ParseUint(string(m[1]), 16, 64)
	return v
}

// TestRunListKernelFunctions checks -l and -lv for kprobes and fentry
// functions: names from available_filter_functions (or, where tracefs
// hides it, the kernel's BTF), arguments from BTF.
func TestRunListKernelFunctions(t *testing.T) {
	testutil.RequireBPF(t)
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		testutil.Skip(t, "kernel BTF", err)
	}
	for _, tc := range []struct{ pattern, want string }{
		{"kprobe:vfs_rea?", "kprobe:vfs_read\n"},
		{"fentry:vfs_read", "fentry:vfs_read\n    struct file * file\n    char * buf\n    size_t count\n    loff_t * pos\n"},
		{"fexit:vfs_read", "fexit:vfs_read\n    struct file * file\n    char * buf\n    size_t count\n    loff_t * pos\n    ssize_t retval\n"},
	} {
		args := []string{"-l", tc.pattern}
		if strings.HasPrefix(tc.pattern, "f") {
			args[0] = "-lv"
		}
		code, got, stderr := runKscope(t, args...)
		if code != 0 || got != tc.want {
			t.Errorf("%s: exit code %d, output\n%s\nwant\n%s\nstderr %s", tc.pattern, code, got, tc.want, stderr)
		}
	}
}

// TestRunVerboseCosts checks -v: each probe's exact run count, its ns per
// run and the losses, on exit.
func TestRunVerboseCosts(t *testing.T) {
	testutil.RequireBPF(t)
	wl := testutil.BuildC(t, "cc", runFuncsWorkload, "-O1", "-no-pie")
	code, got, stderr := runKscope(t, "-q", "-v", "-c", wl, "-e", "uprobe:"+wl+":take { @ = count(); } uprobe:"+wl+":many { @m = count(); }")
	if code != 0 || got != "\n\n@: 1\n@m: 1\n" {
		t.Fatalf("exit code %d, output %q, stderr %s", code, got, stderr)
	}
	for _, re := range []string{
		`(?m)^PROBE +RUNS +NS/RUN$`,
		`(?m)^uprobe:` + regexp.QuoteMeta(wl) + `:take +1 +[1-9][0-9]*$`,
		`(?m)^uprobe:` + regexp.QuoteMeta(wl) + `:many +1 +[1-9][0-9]*$`,
		`(?m)^lost: 0 records \(ring buffer full\), 0 map updates \(max_map_keys\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("stderr lacks %s:\n%s", re, stderr)
		}
	}
}
