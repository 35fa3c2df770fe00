package policy

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/policy"
	"github.com/kscope/kscope/internal/testutil"
)

// TestMain doubles as the connect workload: with KSCOPE_POLICY_CONNECT
// set, the test binary connects to that address and exits with the errno
// (0 on success).
func TestMain(m *testing.M) {
	if addr := os.Getenv("KSCOPE_POLICY_CONNECT"); addr != "" {
		os.Exit(connectOnce(addr))
	}
	if do := os.Getenv("KSCOPE_POLICY_DO"); do != "" {
		os.Exit(workload(do, os.Getenv("KSCOPE_POLICY_ARG")))
	}
	os.Exit(m.Run())
}

// connectOnce connects a TCP socket to addr: an IPv4 socket for an IPv4
// address, an IPv6 one for an IPv6 address, v4-mapped ones included.
func connectOnce(addr string) int {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 200
	}
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if ap.Addr().Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return 201
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			return int(errno)
		}
		return 202
	}
	return 0
}

func requirePolicy(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t, "loading BPF programs")
	if err := bpfx.ProbeFeature(bpfx.FeatSendSignal); err != nil {
		testutil.Skip(t, "bpf_send_signal", err)
	}
}

func rulesOf(t *testing.T, yaml string, audit bool) []*policy.Plan {
	t.Helper()
	rules, err := policy.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := policy.PlanRules(rules, Probe, audit)
	if err != nil {
		t.Fatal(err)
	}
	return plans
}

func start(t *testing.T, cfg Config) (*Collector, *testutil.Capture) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := testutil.NewCapture()
	if err := c.Start(context.Background(), sink); err != nil {
		t.Fatalf("%+v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, sink
}

// fields is an event's JSON as a map.
func fields(t *testing.T, ev event.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(event.AppendJSON(nil, ev), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// alertsOf returns the alerts of rule, waiting up to a deadline for n.
func alertsOf(t *testing.T, sink *testutil.Capture, rule string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out []map[string]any
		for _, ev := range sink.Events() {
			if f := fields(t, ev); f["rule"] == rule {
				out = append(out, f)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		sink.WaitFor(50*time.Millisecond, func(event.Event) bool { return false })
	}
}

// markerProgram writes a static x86-64 ELF executable whose first
// instruction starts creating the file "marker" in its working directory,
// and returns its path: no loader, libc or start-up code runs before it,
// and building it needs no compiler.
func markerProgram(t *testing.T) string {
	t.Helper()
	const base = 0x400000
	code := []byte{
		0xb8, 0x02, 0x00, 0x00, 0x00, // mov eax, 2 (open)
		0x48, 0x8d, 0x3d, 0x15, 0x00, 0x00, 0x00, // lea rdi, [rip+21]: "marker"
		0xbe, 0x41, 0x00, 0x00, 0x00, // mov esi, O_WRONLY|O_CREAT
		0xba, 0xa4, 0x01, 0x00, 0x00, // mov edx, 0644
		0x0f, 0x05, // syscall
		0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
		0x31, 0xff, // xor edi, edi
		0x0f, 0x05, // syscall
		'm', 'a', 'r', 'k', 'e', 'r', 0,
	}
	const hdrs = 64 + 56
	le := binary.LittleEndian
	b := make([]byte, hdrs, hdrs+len(code))
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1}) // 64-bit, little-endian, version 1
	le.PutUint16(b[16:], 2)                       // ET_EXEC
	le.PutUint16(b[18:], 0x3e)                    // x86-64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], base+hdrs) // entry: the first instruction
	le.PutUint64(b[32:], 64)        // program headers
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[56:], 1)
	ph := b[64:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], 5) // R+X
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], uint64(hdrs+len(code)))
	le.PutUint64(ph[40:], uint64(hdrs+len(code)))
	le.PutUint64(ph[48:], 0x1000)
	b = append(b, code...)
	path := filepath.Join(t.TempDir(), "marker-prog")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func execRule(dir, mode string) string {
	return fmt.Sprintf(`rules:
  - name: no-tmp-exec
    severity: high
    on: exec
    match:
      binary: {prefix: [%s/]}
    action: kill
    mode: %s
`, dir, mode)
}

func runMarker(t *testing.T, bin string) (error, bool) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	err := cmd.Run()
	_, serr := os.Stat(filepath.Join(dir, "marker"))
	return err, serr == nil
}

func TestExecKilledBeforeFirstInstruction(t *testing.T) {
	requirePolicy(t)
	bin := markerProgram(t)
	dir := filepath.Dir(bin)
	// The workload works untraced.
	if err, ok := runMarker(t, bin); err != nil || !ok {
		t.Fatalf("untraced: err %v, marker written %v", err, ok)
	}
	plans := rulesOf(t, execRule(dir, "enforce"), false)
	c, sink := start(t, Config{Plans: plans})
	for i := 0; i < 3; i++ {
		err, ok := runMarker(t, bin)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("run %d: want killed by SIGKILL, got %v", i, err)
		}
		if ok {
			t.Fatalf("run %d: the marker was written: the program ran", i)
		}
	}
	alerts := alertsOf(t, sink, "no-tmp-exec", 3)
	if len(alerts) != 3 {
		t.Fatalf("want 3 alerts, got %d", len(alerts))
	}
	for _, a := range alerts {
		if a["type"] != "alert" || a["action"] != "kill" || a["outcome"] != "killed" || a["mode"] != "enforce" ||
			a["binary"] != bin || a["severity"] != "high" || a["on"] != "exec" {
			t.Errorf("alert %v", a)
		}
		checkOffline(t, plans[0].Rule, a, true)
	}
	if got := c.Counts(); got[0] != 3 {
		t.Errorf("matches: got %d, want 3", got[0])
	}
}

func TestExecAuditLetsThrough(t *testing.T) {
	requirePolicy(t)
	bin := markerProgram(t)
	plans := rulesOf(t, execRule(filepath.Dir(bin), "audit"), false)
	c, sink := start(t, Config{Plans: plans})
	if err, ok := runMarker(t, bin); err != nil || !ok {
		t.Fatalf("audit: err %v, marker written %v: want it to run", err, ok)
	}
	alerts := alertsOf(t, sink, "no-tmp-exec", 1)
	if len(alerts) != 1 || alerts[0]["outcome"] != "would kill" || alerts[0]["mode"] != "audit" || alerts[0]["binary"] != bin {
		t.Fatalf("alerts %v", alerts)
	}
	if got := c.Counts(); got[0] != 1 {
		t.Errorf("matches: got %d, want 1", got[0])
	}
	// --audit turns an enforcing rule into an audit one.
	plans = rulesOf(t, execRule(filepath.Dir(bin), "enforce"), true)
	if plans[0].Enforce {
		t.Fatal("--audit: the plan still enforces")
	}
}

func TestOpenAlertWithAccessMode(t *testing.T) {
	requirePolicy(t)
	dir := t.TempDir()
	watched := filepath.Join(dir, "watched")
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - name: writes
    on: open
    match:
      file: {path: [%[1]s], access: [write]}
      comm: [%[3]s]
    action: alert
  - name: other-comm
    on: open
    match:
      file: {path: [%[1]s]}
      comm: [no-such-comm]
    action: alert
  - name: reads
    on: open
    match:
      file: {prefix: [%[2]s/], access: [read]}
      user: {uid: [0]}
    action: alert
`, watched, dir, comm(t)), false)
	c, sink := start(t, Config{Plans: plans})
	f, err := os.OpenFile(watched, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for i := 0; i < 2; i++ {
		b, err := os.ReadFile(watched)
		if err != nil || len(b) != 0 {
			t.Fatal(err, len(b))
		}
	}
	// Not watched: another file in another directory.
	if err := os.WriteFile(filepath.Join(t.TempDir(), "other"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := alertsOf(t, sink, "writes", 1)
	r := alertsOf(t, sink, "reads", 2)
	if n := len(alertsOf(t, sink, "other-comm", 0)); n != 0 {
		t.Errorf("other-comm: %d alerts", n)
	}
	if len(w) != 1 || len(r) != 2 {
		t.Fatalf("want 1 write and 2 read alerts, got %v and %v", w, r)
	}
	if fmt.Sprint(w[0]["access"]) != "[write create truncate]" || w[0]["file"] != watched || w[0]["outcome"] != "alerted" ||
		w[0]["pid"] != float64(os.Getpid()) {
		t.Errorf("write alert %v", w[0])
	}
	if fmt.Sprint(r[0]["access"]) != "[read]" || r[0]["file"] != watched {
		t.Errorf("read alert %v", r[0])
	}
	checkOffline(t, plans[0].Rule, w[0], true)
	checkOffline(t, plans[2].Rule, w[0], false)
	checkOffline(t, plans[2].Rule, r[0], true)
	checkOffline(t, plans[0].Rule, r[0], false)
	checkOffline(t, plans[1].Rule, w[0], false)
	if got := c.Counts(); got[0] != 1 || got[1] != 0 || got[2] != 2 {
		t.Errorf("matches: got %v, want [1 0 2]", got)
	}
}

// comm is this process's command name, as the kernel has it.
func comm(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestOpenByBinary: a binary selector on open is matched in the kernel
// from the process table, here seeded from /proc for the test binary,
// which exec'd before the rules were loaded; a glob on it runs in user
// space on the candidates the kernel sends.
func TestOpenByBinary(t *testing.T) {
	requirePolicy(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	watched := filepath.Join(dir, "watched")
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - name: by-me
    on: open
    match:
      file: {path: [%[1]s]}
      binary: {path: [%[2]s]}
    action: kill
  - name: not-by-me
    on: open
    match:
      file: {path: [%[1]s]}
      binary: {not_path: [%[2]s]}
    action: alert
  - name: by-me-glob
    on: open
    match:
      file: {path: [%[1]s]}
      binary: {glob: [%[3]s/*]}
    action: alert
`, watched, exe, filepath.Dir(exe)), false)
	if plans[0].Stage != "kernel" || plans[0].Action != "kill" || plans[2].Stage != "user" {
		t.Fatalf("plans: %s; %s", plans[0].Describe(), plans[2].Describe())
	}
	plans[0].Enforce = false // the test process must live: audit it
	c, sink := start(t, Config{Plans: plans})
	if err := os.WriteFile(watched, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := alertsOf(t, sink, "by-me", 1)
	if len(a) != 1 || a[0]["outcome"] != "would kill" {
		t.Fatalf("alerts %v", a)
	}
	g := alertsOf(t, sink, "by-me-glob", 1)
	if len(g) != 1 || g[0]["binary"] != exe || g[0]["outcome"] != "alerted" {
		t.Fatalf("glob alerts %v", g)
	}
	// One record carried both rules: the other rule's absence is decided.
	if n := len(alertsOf(t, sink, "not-by-me", 0)); n != 0 {
		t.Errorf("not-by-me: %d alerts", n)
	}
	if got := c.Counts(); got[0] != 1 || got[1] != 0 || got[2] != 1 {
		t.Errorf("matches: got %v, want [1 0 1]", got)
	}
}

// TestExecByParent: a parent selector is matched in the kernel: the
// marker program is killed when the test binary starts it and not when a
// shell does.
func TestExecByParent(t *testing.T) {
	requirePolicy(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sh := testutil.Tool(t, "sh", "to start the workload from another parent")
	bin := markerProgram(t)
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - name: from-test
    on: exec
    match:
      binary: {path: [%s]}
      parent: {path: [%s]}
    action: kill
`, bin, exe), false)
	c, sink := start(t, Config{Plans: plans})
	if err, ok := runMarker(t, bin); err == nil || ok {
		t.Fatalf("started by the test: err %v, marker written %v: want killed", err, ok)
	}
	dir := t.TempDir()
	// The shell forks and execs the program: its parent is the shell. The
	// shell is not exec'd with exec, so the program is its child.
	cmd := exec.Command(sh, "-c", bin+"; true")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("started by sh: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "marker")); err != nil {
		t.Fatalf("started by sh: no marker: %v", err)
	}
	a := alertsOf(t, sink, "from-test", 1)
	if len(a) != 1 || a[0]["outcome"] != "killed" || a[0]["ppid"] != float64(os.Getpid()) {
		t.Fatalf("alerts %v", a)
	}
	if got := c.Counts(); got[0] != 1 {
		t.Errorf("matches: got %d, want 1", got[0])
	}
}

// testCgroup creates a cgroup v2 directory for the test and removes it
// after; it returns its path and an open descriptor of it.
func testCgroup(t *testing.T) (string, int) {
	t.Helper()
	var root string
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			root = p
			break
		}
	}
	if root == "" {
		testutil.Skip(t, "cgroup v2", errors.New("no cgroup2 mount at /sys/fs/cgroup/unified or /sys/fs/cgroup"))
	}
	dir, err := os.MkdirTemp(root, "kscope-policy-test-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		os.Remove(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fd)
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing the test cgroup: %v", err)
		}
	})
	return dir, fd
}

// listen returns a loopback TCP listener that accepts and closes.
func listen(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// connectIn runs the connect workload in cgroup fd (-1: the test's own)
// to 127.0.0.1:port and returns its errno.
func connectIn(t *testing.T, fd, port int) unix.Errno {
	t.Helper()
	return connectTo(t, fd, "127.0.0.1:"+strconv.Itoa(port))
}

func connectTo(t *testing.T, fd int, addr string) unix.Errno {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "KSCOPE_POLICY_CONNECT="+addr)
	if fd >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return unix.Errno(ee.ExitCode())
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func connectRule(port int, mode string) string {
	return fmt.Sprintf(`rules:
  - name: blocked-port
    on: connect
    match:
      destination: {cidr: [127.0.0.0/8], ports: [%d], protocol: tcp}
    action: deny
    mode: %s
`, port, mode)
}

func TestConnectDenied(t *testing.T) {
	requirePolicy(t)
	if err := bpfx.ProbeFeature(bpfx.FeatCgroupSockAddr); err != nil {
		testutil.Skip(t, "cgroup sock_addr programs", err)
	}
	cg, fd := testCgroup(t)
	blocked, open := listen(t), listen(t)
	plans := rulesOf(t, connectRule(blocked, "enforce"), false)
	c, sink := start(t, Config{Plans: plans, Cgroup: cg})
	if got := connectIn(t, fd, blocked); got != unix.EPERM {
		t.Errorf("in the cgroup, to the blocked port: got errno %d (%v), want EPERM", got, got)
	}
	if got := connectIn(t, fd, open); got != 0 {
		t.Errorf("in the cgroup, to the other port: got errno %d (%v), want success", got, got)
	}
	if got := connectIn(t, -1, blocked); got != 0 {
		t.Errorf("outside the cgroup, to the blocked port: got errno %d (%v), want success", got, got)
	}
	alerts := alertsOf(t, sink, "blocked-port", 1)
	if len(alerts) != 1 || alerts[0]["outcome"] != "denied" || alerts[0]["destination"] != "127.0.0.1:"+strconv.Itoa(blocked) ||
		alerts[0]["protocol"] != "tcp" || alerts[0]["action"] != "deny" {
		t.Fatalf("alerts %v", alerts)
	}
	checkOffline(t, plans[0].Rule, alerts[0], true)
	if got := c.Counts(); got[0] != 1 {
		t.Errorf("matches: got %d, want 1", got[0])
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Detached: the blocked port works again.
	if got := connectIn(t, fd, blocked); got != 0 {
		t.Errorf("after Close: got errno %d (%v), want success", got, got)
	}
}

// TestConnectDeniedIPv6: connect6 matches IPv6 CIDRs, and an IPv4-mapped
// address on an IPv6 socket as the IPv4 address it is.
func TestConnectDeniedIPv6(t *testing.T) {
	requirePolicy(t)
	if err := bpfx.ProbeFeature(bpfx.FeatCgroupSockAddr); err != nil {
		testutil.Skip(t, "cgroup sock_addr programs", err)
	}
	cg, fd := testCgroup(t)
	l, err := net.Listen("tcp", "[::]:0") // dual stack: ::1 and 127.0.0.1
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	plans := rulesOf(t, fmt.Sprintf(`rules:
  - name: v6
    on: connect
    match:
      destination: {cidr: ["::1/128"], ports: [%[1]d]}
    action: deny
  - name: v4
    on: connect
    match:
      destination: {cidr: [127.0.0.0/8], ports: [%[1]d]}
    action: deny
`, port), false)
	c, sink := start(t, Config{Plans: plans, Cgroup: cg})
	p := strconv.Itoa(port)
	for _, tc := range []struct {
		addr string
		want unix.Errno
	}{
		{"[::1]:" + p, unix.EPERM},
		{"[::ffff:127.0.0.1]:" + p, unix.EPERM},
		{"127.0.0.1:" + p, unix.EPERM},
	} {
		if got := connectTo(t, fd, tc.addr); got != tc.want {
			t.Errorf("%s: got errno %d (%v), want %v", tc.addr, got, got, tc.want)
		}
	}
	if got := connectTo(t, -1, "[::1]:"+p); got != 0 {
		t.Errorf("outside the cgroup: got errno %d (%v)", got, got)
	}
	v6, v4 := alertsOf(t, sink, "v6", 1), alertsOf(t, sink, "v4", 2)
	if len(v6) != 1 || v6[0]["destination"] != "[::1]:"+p || len(v4) != 2 ||
		v4[0]["destination"] != "127.0.0.1:"+p || v4[1]["destination"] != "127.0.0.1:"+p {
		t.Fatalf("alerts %v %v", v6, v4)
	}
	for _, a := range append(v6, v4...) {
		checkOffline(t, plans[0].Rule, a, a["rule"] == "v6")
		checkOffline(t, plans[1].Rule, a, a["rule"] == "v4")
	}
	if got := c.Counts(); got[0] != 1 || got[1] != 2 {
		t.Errorf("matches: got %v, want [1 2]", got)
	}
}

func TestConnectAudit(t *testing.T) {
	requirePolicy(t)
	if err := bpfx.ProbeFeature(bpfx.FeatCgroupSockAddr); err != nil {
		testutil.Skip(t, "cgroup sock_addr programs", err)
	}
	cg, fd := testCgroup(t)
	blocked := listen(t)
	plans := rulesOf(t, connectRule(blocked, "audit"), false)
	c, sink := start(t, Config{Plans: plans, Cgroup: cg})
	if got := connectIn(t, fd, blocked); got != 0 {
		t.Errorf("audit: got errno %d (%v), want success", got, got)
	}
	if got := connectIn(t, -1, blocked); got != 0 {
		t.Errorf("outside: got errno %d (%v), want success", got, got)
	}
	alerts := alertsOf(t, sink, "blocked-port", 1)
	if len(alerts) != 1 || alerts[0]["outcome"] != "would deny" {
		t.Fatalf("alerts %v", alerts)
	}
	if got := c.Counts(); got[0] != 1 {
		t.Errorf("matches: got %d, want 1", got[0])
	}
}

// checkOffline evaluates the alert's event with the offline matcher, which
// must agree with the kernel.
func checkOffline(t *testing.T, r *policy.Rule, a map[string]any, want bool) {
	t.Helper()
	uid := uint32(a["uid"].(float64))
	euid, gid := uint32(a["euid"].(float64)), uint32(a["gid"].(float64))
	ev := &policy.Event{Type: a["on"].(string), UID: &uid, EUID: &euid, GID: &gid, Comm: a["comm"].(string)}
	for _, x := range asSlice(a["caps"]) {
		ev.Caps = append(ev.Caps, x.(string))
	}
	ev.Container, _ = a["container"].(string)
	ev.ContainerID, _ = a["container_id"].(string)
	for _, x := range asSlice(a["namespaces"]) {
		ev.Namespaces = append(ev.Namespaces, x.(string))
	}
	for _, x := range asSlice(a["ancestors"]) {
		ev.Ancestors = append(ev.Ancestors, x.(string))
	}
	if len(ev.Ancestors) > 0 {
		ev.Parent = ev.Ancestors[0]
	}
	if b, ok := a["binary"].(string); ok && ev.Type != "exec" {
		ev.Binary = b
	}
	switch ev.Type {
	case "exec":
		ev.Filename = a["binary"].(string)
	case "open":
		ev.Path = a["file"].(string)
		flags := "O_RDONLY"
		for _, x := range a["access"].([]any) {
			switch x {
			case "write":
				if flags == "O_RDONLY" {
					flags = "O_WRONLY"
				} else {
					flags = "O_RDWR"
				}
			case "create":
				flags += "|O_CREAT"
			case "truncate":
				flags += "|O_TRUNC"
			}
		}
		ev.Flags = flags
	case "connect", "bind", "sendmsg":
		host, port, _ := net.SplitHostPort(a["destination"].(string))
		p, _ := strconv.Atoi(port)
		ev.DAddr, ev.DPort, ev.Proto = host, uint16(p), a["protocol"].(string)
	}
	if got := r.Matches(ev); got != want {
		t.Errorf("offline: rule %s on %+v: got %v, want %v (the kernel said %v)", r.Name, ev, got, want, want)
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
