package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/policy"
	"github.com/kscope/kscope/internal/testutil"
)

// workload is what the test binary does when started with
// KSCOPE_POLICY_DO: one operation of a policy event, then it exits with the
// operation's errno (0 on success, 100+ when the set-up failed).
func workload(do, arg string) int {
	runtime.LockOSThread()
	fmt.Println(os.Getpid())
	errno := func(err error) int {
		var e unix.Errno
		if errors.As(err, &e) {
			return int(e)
		}
		if err != nil {
			return 101
		}
		return 0
	}
	switch do {
	case "bind", "sendto":
		ap, err := netip.ParseAddrPort(arg)
		if err != nil {
			return 102
		}
		typ := unix.SOCK_STREAM
		if do == "sendto" {
			typ = unix.SOCK_DGRAM
		}
		fd, err := unix.Socket(unix.AF_INET, typ, 0)
		if err != nil {
			return 103
		}
		sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
		if do == "bind" {
			return errno(unix.Bind(fd, sa))
		}
		return errno(unix.Sendto(fd, []byte("kscope"), 0, sa))
	case "ptrace":
		// PTRACE_SEIZE of a child that dies with this process.
		cmd := exec.Command(arg, "30")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return 104
		}
		fmt.Println(cmd.Process.Pid)
		os.Stdout.Sync()
		_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(cmd.Process.Pid), 0, 0, 0, 0)
		return int(e)
	case "setuid":
		// Root to root, on this thread only: a privilege change that changes nothing.
		_, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0)
		return int(e)
	case "module_load":
		// No module: a bad descriptor.
		params := []byte{0}
		_, _, e := unix.RawSyscall(unix.SYS_FINIT_MODULE, ^uintptr(0), uintptr(unsafe.Pointer(&params[0])), 0)
		return int(e)
	case "bpf":
		// BPF_PROG_LOAD without instructions: E2BIG. (cilium/ebpf's
		// rlimit package creates a map at start-up in every process that
		// links it, this one included: a BPF_MAP_CREATE before this.)
		var attr [64]byte
		_, _, e := unix.RawSyscall(unix.SYS_BPF, 5, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
		return int(e)
	case "mount":
		// A file system that does not exist: ENODEV, nothing mounted.
		return errno(unix.Mount("none", arg, "kscope-nofs", 0, ""))
	case "kill":
		// SIGCONT to the test, which ignores it.
		return errno(unix.Kill(os.Getppid(), unix.SIGCONT))
	case "chmod":
		return errno(unix.Chmod(arg, 0o4755))
	case "openw":
		// Open for writing (creating), write nothing.
		fd, err := unix.Open(arg, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT, 0o600)
		if err != nil {
			return errno(err)
		}
		return errno(unix.Close(fd))
	case "cgexec":
		// Join the cgroup whose cgroup.procs is arg's first part (v1 or
		// v2: writing 0 moves the writer), then exec its second.
		procs, prog, _ := strings.Cut(arg, "|")
		if err := os.WriteFile(procs, []byte("0"), 0); err != nil {
			return errno(err)
		}
		return errno(unix.Exec(prog, []string{prog}, nil))
	case "memfd":
		// Run the program arg from a memfd: a fileless exec.
		prog, err := os.ReadFile(arg)
		if err != nil {
			return 104
		}
		fd, err := unix.MemfdCreate("kscope-test", 0)
		if err != nil {
			return errno(err)
		}
		if _, err := unix.Write(fd, prog); err != nil {
			return errno(err)
		}
		empty := []byte{0}
		argv := []*byte{&[]byte("memfd\x00")[0], nil}
		envp := []*byte{nil}
		_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(&empty[0])),
			uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
		return int(e)
	case "euidcat", "nosysadmincat":
		// cat arg with credentials as setpriv would set them (the VM's
		// busybox setpriv has neither): real uid 0, effective uid 1234,
		// gid 4321, no groups; or root without CAP_SYS_ADMIN in its
		// bounding set (this thread's, which the exec keeps).
		cat, err := exec.LookPath("cat")
		if err != nil {
			return 107
		}
		if do == "euidcat" {
			if err := unix.Setgroups(nil); err != nil {
				return errno(err)
			}
			if err := unix.Setresgid(4321, 4321, -1); err != nil {
				return errno(err)
			}
			if err := unix.Setresuid(-1, 1234, -1); err != nil {
				return errno(err)
			}
		} else if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SYS_ADMIN, 0, 0, 0); err != nil {
			return errno(err)
		}
		return errno(unix.Exec(cat, []string{"cat", arg}, os.Environ()))
	case "timedopen":
		return timedOpen(arg)
	case "opentrunc":
		// Open arg for writing, truncating it.
		fd, err := unix.Open(arg, unix.O_WRONLY|unix.O_TRUNC, 0)
		if err != nil {
			return errno(err)
		}
		return errno(unix.Close(fd))
	case "openat2trunc":
		// The same through openat2, whose flags are in struct open_how.
		fd, err := unix.Openat2(unix.AT_FDCWD, arg, &unix.OpenHow{Flags: unix.O_WRONLY | unix.O_TRUNC})
		if err != nil {
			return errno(err)
		}
		return errno(unix.Close(fd))
	case "finit":
		// finit_module of arg, a file that is no module: the loader
		// refuses it, unless something stops the call before.
		fd, err := unix.Open(arg, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 106
		}
		fmt.Println(fd)
		os.Stdout.Sync()
		params := []byte{0}
		_, _, e := unix.RawSyscall(unix.SYS_FINIT_MODULE, uintptr(fd), uintptr(unsafe.Pointer(&params[0])), 0)
		return int(e)
	case "read":
		// Open arg for reading; a missing file is fine: the open is matched.
		if fd, err := unix.Open(arg, unix.O_RDONLY, 0); err == nil {
			unix.Close(fd)
		}
		return 0
	case "spawn":
		// Start arg (a shell) with -c true, as nc -e does.
		if err := exec.Command(arg, "-c", "true").Run(); err != nil {
			return 105
		}
		return 0
	}
	return 100
}

// runWorkload runs the test binary's workload do in cgroup fd (-1: the
// test's own) and returns its exit status or signal, and its output.
func runWorkload(t *testing.T, fd int, do, arg string) (int, syscall.Signal, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "KSCOPE_POLICY_DO="+do, "KSCOPE_POLICY_ARG="+arg)
	if fd >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, ws.Signal(), string(out)
		}
		return ee.ExitCode(), 0, string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, 0, string(out)
}

func testExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestSyscallEvents: each syscall event alerts once on the test binary's
// workload, with its exact details and ancestry, and on nothing else: the
// rules select the test binary run by the test binary.
func TestSyscallEvents(t *testing.T) {
	requirePolicy(t)
	exe := testExe(t)
	sleep := testutil.Tool(t, "sleep", "as a process to ptrace")
	events := []string{"ptrace", "setuid", "module_load", "bpf", "mount", "kill", "chmod"}
	var y strings.Builder
	y.WriteString("rules:\n")
	for _, on := range events {
		fmt.Fprintf(&y, "  - name: on-%s\n    on: %s\n    match:\n      binary: {path: [%s]}\n      ancestor: {path: [%s]}\n    action: alert\n", on, on, exe, exe)
	}
	plans := rulesOf(t, y.String(), false)
	c, sink := start(t, Config{Plans: plans})
	dir := t.TempDir()
	file := filepath.Join(dir, "suid")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	args := map[string]string{"ptrace": sleep, "mount": dir, "chmod": file}
	want := map[string]struct {
		errno          int
		syscall, match string
	}{
		"ptrace":      {0, "ptrace", "PTRACE_SEIZE pid "},
		"setuid":      {0, "setresuid", "real 0 effective 0 saved 0"},
		"module_load": {int(unix.EBADF), "finit_module", `fd -1, flags 0x0, params ""`},
		"bpf":         {int(unix.E2BIG), "bpf", "BPF_PROG_LOAD"},
		"mount":       {int(unix.ENODEV), "mount", `type "kscope-nofs", flags 0x0`},
		"kill":        {0, "kill", fmt.Sprintf("pid %d signal %d", os.Getpid(), unix.SIGCONT)},
		"chmod":       {0, "fchmodat", "mode 4755, fd -100"},
	}
	for i, on := range events {
		t.Run(on, func(t *testing.T) {
			if m := plans[i].Missing; len(m) == len(policy.SyscallNames[on]) {
				// A kernel built without them (modules here): what
				// policy check says is the behaviour to check. The VM
				// runner's kernel has them and runs the workload.
				if d := plans[i].Describe(); !strings.Contains(d, "not on this kernel: "+strings.Join(m, ", ")+" (the rule cannot match here)") {
					t.Errorf("the plan of a rule on %s, whose syscalls this kernel lacks, reads %q", on, d)
				}
				return
			}
			code, sig, out := runWorkload(t, -1, on, args[on])
			// bpf: the errno of a load without instructions varies by kernel.
			if (code != want[on].errno && (on != "bpf" || code == 0)) || sig != 0 {
				t.Errorf("%s: exit %d signal %v, want errno %d", on, code, sig, want[on].errno)
			}
			lines := strings.Fields(out)
			if len(lines) == 0 {
				t.Fatalf("%s: no pid in the output %q", on, out)
			}
			pid := float64(mustAtoi(t, lines[0]))
			a := alertsWhere(t, sink, func(x map[string]any) bool {
				return x["rule"] == "on-"+on && x["pid"] == pid && (on != "bpf" || x["detail"] == "BPF_PROG_LOAD")
			})
			if len(a) != 1 {
				t.Errorf("%s: %d alerts of pid %v, want 1", on, len(a), pid)
				return
			}
			detail := want[on].match
			if on == "ptrace" {
				detail += lines[1]
				if a[0]["target_pid"] != float64(mustAtoi(t, lines[1])) {
					t.Errorf("ptrace: target_pid %v, want %s", a[0]["target_pid"], out)
				}
			}
			if on == "kill" && a[0]["target_pid"] != float64(os.Getpid()) {
				t.Errorf("kill: target_pid %v, want %d", a[0]["target_pid"], os.Getpid())
			}
			if a[0]["syscall"] != want[on].syscall || a[0]["detail"] != detail || a[0]["outcome"] != "alerted" ||
				a[0]["binary"] != exe || a[0]["ppid"] != float64(os.Getpid()) {
				t.Errorf("%s: alert %v\nwant syscall %s detail %q", on, a[0], want[on].syscall, detail)
			}
			if anc := asSlice(a[0]["ancestors"]); len(anc) == 0 || anc[0] != exe ||
				asSlice(a[0]["ancestor_pids"])[0] != float64(os.Getpid()) {
				t.Errorf("%s: ancestors %v pids %v", on, a[0]["ancestors"], a[0]["ancestor_pids"])
			}
			switch on {
			case "chmod":
				if a[0]["file"] != file {
					t.Errorf("chmod: file %v, want %s", a[0]["file"], file)
				}
			case "mount":
				if a[0]["file"] != dir {
					t.Errorf("mount: file %v, want %s", a[0]["file"], dir)
				}
			}
			checkOffline(t, plans[i].Rule, a[0], true)
		})
	}
	for i, n := range c.Counts() {
		// Each workload process created a map at start-up (above).
		if plans[i].Rule.On == "bpf" {
			continue
		}
		if n != 1 && len(plans[i].Missing) < len(policy.SyscallNames[plans[i].Rule.On]) {
			t.Errorf("rule %s: %d matches, want 1", plans[i].Rule.Name, n)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSyscallEventKill: a kill on a syscall event ends the task on its way
// out of the syscall, which has run: the file's mode changed.
func TestSyscallEventKill(t *testing.T) {
	requirePolicy(t)
	exe := testExe(t)
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - name: no-suid
    on: chmod
    match:
      binary: {path: [%s]}
      ancestor: {path: [%s]}
    action: kill
`, exe, exe), false)
	c, sink := start(t, Config{Plans: plans})
	file := filepath.Join(t.TempDir(), "suid")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, sig, _ := runWorkload(t, -1, "chmod", file); sig != syscall.SIGKILL {
		t.Fatalf("exit %d signal %v, want SIGKILL", code, sig)
	}
	a := alertsOf(t, sink, "no-suid", 1)
	if len(a) != 1 || a[0]["outcome"] != "killed" || a[0]["action"] != "kill" {
		t.Fatalf("alerts %v", a)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode()&os.ModeSetuid == 0 {
		t.Errorf("the chmod ran before the kill: mode %v %v", st.Mode(), err)
	}
	if got := c.Counts(); got[0] != 1 {
		t.Errorf("matches %v, want 1", got)
	}
}

// TestAncestryShadowReader: reading /etc/shadow from the test binary
// started by sh started by the test alerts with the exact chain: sh, then
// the test, then the test's parent; the rule selects the test as an
// ancestor, two levels up, in the kernel.
func TestAncestryShadowReader(t *testing.T) {
	requirePolicy(t)
	exe := testExe(t)
	sh := testutil.Tool(t, "sh", "to start the reader")
	mark := filepath.Join(t.TempDir(), "mark")
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - name: shadow-readers
    on: open
    match:
      file: {path: [/etc/shadow], access: [read]}
      binary: {not_path: [/usr/bin/passwd, /usr/sbin/sshd]}
      ancestor: {path: [%s]}
    action: alert
  - name: mark
    on: open
    match:
      file: {path: [%s]}
    action: alert
`, exe, mark), false)
	c, sink := start(t, Config{Plans: plans})
	// The test's own start time, as the kernel has it.
	if err := os.WriteFile(mark, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m := alertsOf(t, sink, "mark", 1)
	if len(m) != 1 {
		t.Fatalf("mark: %v", m)
	}
	// The open is matched at its exit whatever its result: a host without
	// /etc/shadow (the VM runner's) alerts all the same.
	script := exe + "; true"
	cmd := exec.Command(sh, "-c", script)
	cmd.Env = append(os.Environ(), "KSCOPE_POLICY_DO=read", "KSCOPE_POLICY_ARG=/etc/shadow")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	a := alertsOf(t, sink, "shadow-readers", 1)
	if len(a) != 1 {
		t.Fatalf("alerts %v", a)
	}
	got := a[0]
	ppid, _, err := procStat(uint32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	anc, pids, starts, argv := asSlice(got["ancestors"]), asSlice(got["ancestor_pids"]), asSlice(got["ancestor_start_ns"]), asSlice(got["ancestor_argv"])
	if len(anc) < 3 || len(pids) != len(anc) || len(starts) != len(anc) || len(argv) != len(anc) {
		t.Fatalf("ancestry %v %v %v %v", anc, pids, starts, argv)
	}
	if anc[0] != sh || argv[0] != sh+" -c "+script || pids[0] != got["ppid"] || starts[0] != got["parent_start_ns"] {
		t.Errorf("ancestor 0: %v %v pid %v start %v; want %s, pid and start %v %v", anc[0], argv[0], pids[0], starts[0], sh, got["ppid"], got["parent_start_ns"])
	}
	if anc[1] != exe || argv[1] != strings.Join(os.Args, " ") || pids[1] != float64(os.Getpid()) || starts[1] != m[0]["start_ns"] {
		t.Errorf("ancestor 1: %v %q pid %v start %v; want %s %q %d %v", anc[1], argv[1], pids[1], starts[1], exe, strings.Join(os.Args, " "), os.Getpid(), m[0]["start_ns"])
	}
	if pids[2] != float64(ppid) {
		t.Errorf("ancestor 2: pid %v, want %d", pids[2], ppid)
	}
	if got["binary"] != exe {
		t.Errorf("binary %v, want %s", got["binary"], exe)
	}
	wantChain := filepath.Base(exe) + " → " + filepath.Base(sh) + " → " + filepath.Base(exe)
	if ch, _ := got["chain"].(string); !strings.HasSuffix(ch, wantChain) {
		t.Errorf("chain %q, want it to end with %q", ch, wantChain)
	}
	checkOffline(t, plans[0].Rule, got, true)
	if n := c.Counts(); n[0] != 1 {
		t.Errorf("matches %v", n)
	}
}

// TestAncestorAndCgroupSelectors: an ancestor selector kills the marker
// program started by a shell the test starts (a parent selector would not
// see the test), and a cgroup selector alerts on the exec in the test's
// cgroup and not outside it.
func TestAncestorAndCgroupSelectors(t *testing.T) {
	requirePolicy(t)
	exe := testExe(t)
	sh := testutil.Tool(t, "sh", "to start the workload")
	root := CgroupRoot()
	if root == "" {
		testutil.Skip(t, "cgroup v2", errors.New("no cgroup2 mount"))
	}
	cg, fd := testCgroup(t)
	rel := strings.TrimPrefix(cg, root)
	bin := markerProgram(t)
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - name: under-test
    on: exec
    match:
      binary: {path: [%s]}
      ancestor: {path: [%s]}
    action: kill
  - name: not-under-test
    on: exec
    match:
      binary: {path: [%s]}
      ancestor: {not_path: [%s]}
    action: alert
  - name: in-cgroup
    on: exec
    match:
      cgroup: {prefix: [%s]}
    action: alert
`, bin, exe, bin, exe, rel), false)
	c, sink := start(t, Config{Plans: plans})
	dir := t.TempDir()
	cmd := exec.Command(sh, "-c", bin+"; true")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "marker")); err == nil {
		t.Error("the marker program ran: want killed")
	}
	a := alertsOf(t, sink, "under-test", 1)
	if len(a) != 1 || a[0]["outcome"] != "killed" || asSlice(a[0]["ancestors"])[1] != exe {
		t.Errorf("under-test: %v", a)
	}
	// In the cgroup, and outside it.
	cmd = exec.Command(sh, "-c", "true")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(sh, "-c", "true").Run(); err != nil {
		t.Fatal(err)
	}
	in := alertsOf(t, sink, "in-cgroup", 1)
	if len(in) != 1 || in[0]["binary"] != sh || in[0]["cgroup_id"] != float64(cgroupID(t, cg)) {
		t.Errorf("in-cgroup: %v", in)
	}
	if got := c.Counts(); got[0] != 1 || got[1] != 0 || got[2] != 1 {
		t.Errorf("matches %v, want [1 0 1]", got)
	}
	if n := len(alertsOf(t, sink, "not-under-test", 0)); n != 0 {
		t.Errorf("not-under-test: %d alerts", n)
	}
}

func cgroupID(t *testing.T, dir string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestBindAndSendmsgDenied: in the test cgroup, a bind to the blocked port
// and a UDP send to it fail with EPERM; outside they work, and other ports
// work in it.
func TestBindAndSendmsgDenied(t *testing.T) {
	requirePolicy(t)
	if err := bpfx.ProbeFeature(bpfx.FeatCgroupSockAddr); err != nil {
		testutil.Skip(t, "cgroup sock_addr programs", err)
	}
	cg, fd := testCgroup(t)
	// Free ports: bound and released by the test.
	port := func() int {
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(s)
		if err := unix.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(s)
		return sa.(*unix.SockaddrInet4).Port
	}
	blocked, other := port(), port()
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - name: no-bind
    on: bind
    match:
      destination: {cidr: [127.0.0.0/8], ports: [%d], protocol: tcp}
    action: deny
  - name: no-send
    on: sendmsg
    match:
      destination: {cidr: [127.0.0.0/8], ports: [%d]}
    action: deny
`, blocked, blocked), false)
	c, sink := start(t, Config{Plans: plans, Cgroup: cg})
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	for _, tc := range []struct {
		do   string
		fd   int
		port int
		want unix.Errno
	}{
		{"bind", fd, blocked, unix.EPERM},
		{"bind", fd, other, 0},
		{"bind", -1, blocked, 0},
		{"sendto", fd, blocked, unix.EPERM},
		{"sendto", fd, other, 0},
		{"sendto", -1, blocked, 0},
	} {
		if code, sig, _ := runWorkload(t, tc.fd, tc.do, addr(tc.port)); unix.Errno(code) != tc.want || sig != 0 {
			t.Errorf("%s to %d in cgroup %v: errno %d (%v) signal %v, want %v", tc.do, tc.port, tc.fd >= 0, code, unix.Errno(code), sig, tc.want)
		}
	}
	b, s := alertsOf(t, sink, "no-bind", 1), alertsOf(t, sink, "no-send", 1)
	if len(b) != 1 || b[0]["outcome"] != "denied" || b[0]["destination"] != addr(blocked) || b[0]["protocol"] != "tcp" {
		t.Errorf("bind alerts %v", b)
	}
	if len(s) != 1 || s[0]["outcome"] != "denied" || s[0]["destination"] != addr(blocked) || s[0]["protocol"] != "udp" {
		t.Errorf("sendmsg alerts %v", s)
	}
	for _, a := range append(b, s...) {
		if a["binary"] != testExe(t) || a["ppid"] != float64(os.Getpid()) {
			t.Errorf("process: %v", a)
		}
		checkOffline(t, plans[0].Rule, a, a["rule"] == "no-bind")
		checkOffline(t, plans[1].Rule, a, a["rule"] == "no-send")
	}
	if got := c.Counts(); got[0] != 1 || got[1] != 1 {
		t.Errorf("matches %v, want [1 1]", got)
	}
}

// TestProcStat: the parent and start time of the test, from /proc, and the
// process cache's match on pid and start time.
func TestProcStat(t *testing.T) {
	ppid, start, err := procStat(uint32(os.Getpid()))
	if err != nil || ppid != uint32(os.Getppid()) || start == 0 {
		t.Fatalf("procStat: %d %d %v, want parent %d", ppid, start, err, os.Getppid())
	}
	if _, _, err := procStat(0); err == nil {
		t.Error("pid 0: no error")
	}
	pc := procCache{m: map[uint32]procInfo{}}
	pc.put(7, procInfo{start: 1_000_000_000, binary: "/bin/a"})
	pc.put(8, procInfo{start: 2_000_000_000, binary: "/bin/b", seeded: true})
	for _, tc := range []struct {
		pid   uint32
		start uint64
		want  string
	}{
		{7, 1_000_000_000, "/bin/a"}, {7, 1_000_000_001, ""}, {8, 2_009_999_999, "/bin/b"}, {8, 1_990_000_001, "/bin/b"},
		{8, 2_020_000_000, ""}, {9, 0, ""},
	} {
		p, ok := pc.get(tc.pid, tc.start)
		if got := p.binary; !ok {
			got = ""
		} else if got != tc.want {
			t.Errorf("get(%d, %d): %q, want %q", tc.pid, tc.start, got, tc.want)
		}
		if ok != (tc.want != "") {
			t.Errorf("get(%d, %d): found %v", tc.pid, tc.start, ok)
		}
	}
}

// alertsWhere returns the alerts for which keep holds, waiting up to a
// deadline for one.
func alertsWhere(t *testing.T, sink *testutil.Capture, keep func(map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out []map[string]any
		for _, ev := range sink.Events() {
			if f := fields(t, ev); keep(f) {
				out = append(out, f)
			}
		}
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
		sink.WaitFor(50*time.Millisecond, func(event.Event) bool { return false })
	}
}
