package top_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
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

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/top"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// TestMain turns the test binary into a workload child on request:
// KSCOPE_TEST_TOP=sys:N, file:DIR, tcp:ADDR:M, burn:MS.
func TestMain(m *testing.M) {
	if mode := os.Getenv("KSCOPE_TEST_TOP"); mode != "" {
		os.Exit(child(strings.Split(mode, ":")))
	}
	if comm := os.Getenv(holdEnv); comm != "" {
		os.Exit(benchHold(comm))
	}
	os.Exit(m.Run())
}

// child does its work between "ready" and "done ...": it waits for a byte
// on stdin to start, and for stdin to close to exit.
func child(args []string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	arg := func(i int) int { n, _ := strconv.Atoi(args[i]); return n }
	if args[0] == "burn" {
		// Burn CPU until this process has used MS milliseconds of it.
		want := time.Duration(arg(1)) * time.Millisecond
		for x := 0; ; x++ {
			if x%100000 == 0 {
				var ru syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
				if time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) >= want {
					return 0
				}
			}
		}
	}
	os.Stdout.WriteString("ready\n")
	var b [1]byte
	if _, err := os.Stdin.Read(b[:]); err != nil {
		return fail(err)
	}
	var done string
	switch args[0] {
	case "sys":
		for range arg(1) {
			syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
	case "file":
		if err := fileWork(args[1]); err != nil {
			return fail(err)
		}
	case "tcp":
		d, err := tcpWork(args[1]+":"+args[2], arg(3))
		if err != nil {
			return fail(err)
		}
		done = d
	case "mptcp":
		d, err := mptcpWork(args[1]+":"+args[2], arg(3))
		if err != nil {
			return fail(err)
		}
		done = d
	default:
		return fail(fmt.Errorf("unknown mode %q", args[0]))
	}
	os.Stdout.WriteString("done " + done + "\n")
	io.ReadAll(os.Stdin)
	return 0
}

// File I/O of fileWork: bytes written and read on the regular file.
const (
	fileWritten = 1000 + 2000 + 100 + 200 + 300
	fileRead    = fileWritten + 1000
)

// fileWork writes and reads a regular file with the write and read
// families, and moves bytes through a pipe and /dev/null, which do not
// count.
func fileWork(dir string) error {
	fd, err := unix.Open(filepath.Join(dir, "data"), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	check := func(n, want int, err error) error {
		if n != want || err != nil {
			return fmt.Errorf("%d bytes, want %d: %v", n, want, err)
		}
		return nil
	}
	n, err := unix.Write(fd, make([]byte, 1000))
	if err := check(n, 1000, err); err != nil {
		return err
	}
	n, err = unix.Pwrite(fd, make([]byte, 2000), 1000)
	if err := check(n, 2000, err); err != nil {
		return err
	}
	unix.Seek(fd, 3000, 0)
	n, err = unix.Writev(fd, [][]byte{make([]byte, 100), make([]byte, 200), make([]byte, 300)})
	if err := check(n, 600, err); err != nil {
		return err
	}
	n, err = unix.Pread(fd, make([]byte, fileWritten), 0)
	if err := check(n, fileWritten, err); err != nil {
		return err
	}
	unix.Seek(fd, 0, 0)
	n, err = unix.Read(fd, make([]byte, 1000))
	if err := check(n, 1000, err); err != nil {
		return err
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	unix.Write(p[1], make([]byte, 500))
	unix.Read(p[0], make([]byte, 500))
	unix.Close(p[0])
	unix.Close(p[1])
	null, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.Write(null, make([]byte, 300))
	unix.Close(null)
	return nil
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func mmsg(bufs ...[]byte) []mmsghdr {
	ms := make([]mmsghdr, len(bufs))
	for i, b := range bufs {
		iov := &unix.Iovec{Base: &b[0]}
		iov.SetLen(len(b))
		ms[i].hdr.Iov = iov
		ms[i].hdr.SetIovlen(1)
	}
	return ms
}

// tcpWork connects to addr, sends m bytes (a quarter each by write,
// sendto, sendmsg and sendmmsg), half-closes, and receives until EOF with
// read, recvfrom, recvmsg and recvmmsg in turn, after a peek. Bytes moved
// through an AF_UNIX socket pair do not count. It returns what each call
// moved: "w=.. to=.. msg=.. mmsg=.. r=.. from=.. rmsg=.. rmmsg=..".
func tcpWork(addr string, m int) (string, error) {
	ap, err := netip(addr)
	if err != nil {
		return "", err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, ap); err != nil {
		return "", err
	}
	q := m / 4
	moved := map[string]int{}
	if n, err := unix.Write(fd, make([]byte, q)); n != q || err != nil {
		return "", fmt.Errorf("write: %d %v", n, err)
	}
	moved["w"] = q
	if err := unix.Sendto(fd, make([]byte, q), 0, nil); err != nil {
		return "", err
	}
	moved["to"] = q
	if n, err := unix.SendmsgN(fd, make([]byte, q), nil, nil, 0); n != q || err != nil {
		return "", fmt.Errorf("sendmsg: %d %v", n, err)
	}
	moved["msg"] = q
	rest := m - 3*q
	ms := mmsg(make([]byte, rest/2), make([]byte, rest-rest/2))
	sent, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&ms[0])), 2, 0, 0, 0)
	if errno != 0 || sent != 2 || int(ms[0].len+ms[1].len) != rest {
		return "", fmt.Errorf("sendmmsg: %d messages, %d+%d bytes: %v", sent, ms[0].len, ms[1].len, errno)
	}
	moved["mmsg"] = rest
	runtime.KeepAlive(ms)
	unix.Shutdown(fd, unix.SHUT_WR)

	buf := make([]byte, 4096)
	// A peek receives nothing.
	if _, _, err := unix.Recvfrom(fd, buf[:1], unix.MSG_PEEK); err != nil {
		return "", err
	}
	for i := 0; ; i++ {
		var n int
		var kind string
		switch i % 4 {
		case 0:
			kind = "r"
			n, err = unix.Read(fd, buf)
		case 1:
			kind = "from"
			n, _, err = unix.Recvfrom(fd, buf, 0)
		case 2:
			kind = "rmsg"
			n, _, _, _, err = unix.Recvmsg(fd, buf, nil, 0)
		case 3:
			kind = "rmmsg"
			rm := mmsg(buf)
			got, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&rm[0])), 1, 0, 0, 0)
			if errno != 0 {
				err = errno
			} else if got == 1 {
				n = int(rm[0].len)
			}
		}
		if err != nil {
			return "", fmt.Errorf("%s: %v", kind, err)
		}
		if n == 0 {
			break
		}
		moved[kind] += n
	}

	// Not the network: a local socket pair.
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	unix.Write(sp[0], make([]byte, 700))
	unix.Read(sp[1], make([]byte, 700))
	unix.Close(sp[0])
	unix.Close(sp[1])

	var out []string
	for _, k := range []string{"w", "to", "msg", "mmsg", "r", "from", "rmsg", "rmmsg"} {
		out = append(out, k+"="+strconv.Itoa(moved[k]))
	}
	return strings.Join(out, " "), nil
}

// mptcpWork sends m bytes over an MPTCP connection to addr, half-closes
// and reads until EOF; it says "mptcp=1 rx=N" (mptcp=0: the kernel fell
// back to TCP).
func mptcpWork(addr string, m int) (string, error) {
	var d net.Dialer
	d.SetMultipathTCP(true)
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	mp, _ := c.(*net.TCPConn).MultipathTCP()
	if _, err := c.Write(make([]byte, m)); err != nil {
		return "", err
	}
	c.(*net.TCPConn).CloseWrite()
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("mptcp=%d rx=%d", map[bool]int{true: 1}[mp], n), nil
}

func netip(addr string) (*unix.SockaddrInet4, error) {
	a, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	return sa, nil
}

// kid is a running workload child.
type kid struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	pid   uint32
}

func startKid(t *testing.T, mode string) *kid {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// The Go runtime rereads the cgroup CPU limit every second or so (a
	// few bytes of a regular file): not while exact file bytes are counted.
	cmd.Env = append(os.Environ(), "KSCOPE_TEST_TOP="+mode, "GODEBUG=updatemaxprocs=0")
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k := &kid{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), pid: uint32(cmd.Process.Pid)}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	if l := k.line(t); l != "ready" {
		t.Fatalf("child said %q", l)
	}
	return k
}

func (k *kid) line(t *testing.T) string {
	t.Helper()
	l, err := k.out.ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	return strings.TrimSpace(l)
}

// run starts the work and returns what the child says when done.
func (k *kid) run(t *testing.T) map[string]int {
	t.Helper()
	k.stdin.Write([]byte{1})
	l := k.line(t)
	f := strings.Fields(l)
	if len(f) == 0 || f[0] != "done" {
		t.Fatalf("child said %q", l)
	}
	out := map[string]int{}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		out[k], _ = strconv.Atoi(v)
	}
	return out
}

func (k *kid) exit(t *testing.T) {
	t.Helper()
	k.stdin.Close()
	if err := k.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

func start(t *testing.T) *top.Collector {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := top.New(collector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatalf("%+v", err)
	}
	return c
}

func read(t *testing.T, c *top.Collector) top.Snapshot {
	t.Helper()
	s, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func find(s top.Snapshot, pid uint32) (top.Proc, bool) {
	for _, p := range s.Procs {
		if p.PID == pid {
			return p, true
		}
	}
	return top.Proc{}, false
}

func TestSyscalls(t *testing.T) {
	c := start(t)
	const n = 54321
	k := startKid(t, "sys:"+strconv.Itoa(n))
	if err := c.Focus(k.pid); err != nil {
		t.Fatal(err)
	}
	before, _ := find(read(t, c), k.pid)
	k.run(t)
	after, ok := find(read(t, c), k.pid)
	if !ok {
		t.Fatal("child not in the map")
	}
	if d := after.Syscalls - before.Syscalls; d < n || d > n+1000 {
		t.Errorf("syscalls: %d during the storm, want %d and the runtime's few", d, n)
	}
	pid, calls, err := c.FocusCalls()
	if err != nil {
		t.Fatal(err)
	}
	if pid != k.pid || len(calls) == 0 || calls[0].Name != "getppid" || calls[0].Calls != n {
		t.Errorf("focus %d: %v, want getppid first with %d calls", pid, calls[:min(len(calls), 5)], n)
	}
	k.exit(t)
	if err := c.Focus(0); err != nil {
		t.Fatal(err)
	}
	if pid, calls, _ := c.FocusCalls(); pid != 0 || calls != nil {
		t.Errorf("no focus: %d %v", pid, calls)
	}
}

func TestFileIO(t *testing.T) {
	c := start(t)
	k := startKid(t, "file:"+t.TempDir())
	before, _ := find(read(t, c), k.pid)
	k.run(t)
	after, _ := find(read(t, c), k.pid)
	if r, w := after.ReadBytes-before.ReadBytes, after.WriteBytes-before.WriteBytes; r != fileRead || w != fileWritten {
		t.Errorf("file bytes read %d, written %d; want %d, %d", r, w, fileRead, fileWritten)
	}
	if after.RxBytes != 0 || after.TxBytes != 0 {
		t.Errorf("net bytes %d/%d for a process without sockets", after.RxBytes, after.TxBytes)
	}
	if want := filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))]; after.Comm != want {
		t.Errorf("comm %q, want %q", after.Comm, want)
	}
}

// tcpServer accepts one connection, reads until the client half-closes,
// then sends r bytes and closes. It returns the address and the count of
// bytes it received.
func tcpServer(t *testing.T, r int) (string, <-chan int64) {
	return server(t, r, false)
}

// server accepts one connection (MPTCP ones too, with mptcp), reads until
// the client half-closes, then sends r bytes and closes. It returns the
// address and the count of bytes it received.
func server(t *testing.T, r int, mptcp bool) (string, <-chan int64) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(mptcp)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		c.Write(make([]byte, r))
		got <- n
	}()
	return ln.Addr().String(), got
}

func TestNet(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hooks int
	}{
		{"best", -1},
		{"syscalls", int(top.NetSyscalls)},
		{"socket-calls", int(top.NetSocketCalls)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hooks >= 0 {
				defer top.ForceNetHooks(top.NetHooks(tc.hooks))()
			}
			c := start(t)
			t.Logf("net hooks: %s", c.NetHooks())
			const m, r = 1 << 20, 333333
			addr, got := tcpServer(t, r)
			k := startKid(t, "tcp:"+addr+":"+strconv.Itoa(m))
			before, _ := find(read(t, c), k.pid)
			moved := k.run(t)
			if n := <-got; n != m {
				t.Fatalf("server received %d bytes, want %d", n, m)
			}
			after, _ := find(read(t, c), k.pid)
			tx, rx := after.TxBytes-before.TxBytes, after.RxBytes-before.RxBytes
			wantTx, wantRx := uint64(m), uint64(r)
			if c.NetHooks() == top.NetSocketCalls {
				// Only sendto, sendmsg, recvfrom and recvmsg count, and
				// the 1-byte peek too: the flags are out of sight.
				wantTx = uint64(moved["to"] + moved["msg"])
				wantRx = uint64(moved["from"] + moved["rmsg"] + 1)
			}
			if tx != wantTx || rx != wantRx {
				t.Errorf("sent %d, received %d; want %d, %d (%v)", tx, rx, wantTx, wantRx, moved)
			}
			if moved["r"]+moved["from"]+moved["rmsg"]+moved["rmmsg"] != r {
				t.Errorf("the child received %v, want %d in all", moved, r)
			}
			if after.ReadBytes != before.ReadBytes || after.WriteBytes != before.WriteBytes {
				t.Errorf("file bytes %d/%d counted for socket I/O", after.ReadBytes-before.ReadBytes, after.WriteBytes-before.WriteBytes)
			}
		})
	}
}

// An MPTCP connection counts once, at its socket, not again at its
// subflows.
func TestNetMPTCP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hooks int
	}{
		{"best", -1},
		{"syscalls", int(top.NetSyscalls)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hooks >= 0 {
				defer top.ForceNetHooks(top.NetHooks(tc.hooks))()
			}
			c := start(t)
			const m, r = 1 << 20, 54321
			addr, got := server(t, r, true)
			k := startKid(t, "mptcp:"+addr+":"+strconv.Itoa(m))
			before, _ := find(read(t, c), k.pid)
			moved := k.run(t)
			if n := <-got; n != m {
				t.Fatalf("server received %d bytes, want %d", n, m)
			}
			if moved["mptcp"] != 1 {
				testutil.Skip(t, "MPTCP (net.mptcp.enabled)", fmt.Errorf("the connection fell back to TCP"))
			}
			after, _ := find(read(t, c), k.pid)
			if tx, rx := after.TxBytes-before.TxBytes, after.RxBytes-before.RxBytes; tx != m || rx != r || moved["rx"] != r {
				t.Errorf("MPTCP (%s): sent %d, received %d; want %d, %d", c.NetHooks(), tx, rx, m, r)
			}
		})
	}
}

func TestCPUAndExit(t *testing.T) {
	c := start(t)
	burn := exec.Command(os.Args[0], "-test.run=^$")
	burn.Env = append(os.Environ(), "KSCOPE_TEST_TOP=burn:300")
	if err := burn.Run(); err != nil {
		t.Fatal(err)
	}
	used := burn.ProcessState.UserTime() + burn.ProcessState.SystemTime()
	pid := uint32(burn.Process.Pid)
	s := read(t, c)
	p, ok := find(s, pid)
	if !ok || !p.Exited {
		t.Fatalf("ended burner: %+v (found %v), want Exited", p, ok)
	}
	got := time.Duration(p.CPUNs)
	t.Logf("cpu: traced %v, kernel's rusage %v", got, used)
	if d := got - used; d < -used/10 || d > used/10+20*time.Millisecond {
		t.Errorf("cpu %v, rusage says %v", got, used)
	}
	// Reported once as ended, then gone.
	if p, ok := find(read(t, c), pid); ok {
		t.Errorf("ended process reported again: %+v", p)
	}
}

// TestRunningCPUNeverDecreases reads a running burner's CPU time while it
// runs: it never goes down, it grows once the scheduler says the burner ran
// more, and what it grows by agrees with the scheduler's own count read
// around each read (the process's start, before the exec, may be counted
// apart).
func TestRunningCPUNeverDecreases(t *testing.T) {
	c := start(t)
	burn := exec.Command(os.Args[0], "-test.run=^$")
	burn.Env = append(os.Environ(), "KSCOPE_TEST_TOP=burn:600000")
	if err := burn.Start(); err != nil {
		t.Fatal(err)
	}
	defer burn.Wait()
	defer burn.Process.Kill()
	pid := burn.Process.Pid
	onCPU := func() time.Duration {
		t.Helper()
		d, err := testutil.OnCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	var prev uint64
	var prevLo, prevHi time.Duration
	for i := range 6 {
		// Let the burner run 20 ms more, by the scheduler's count.
		for want, deadline := onCPU()+20*time.Millisecond, time.Now().Add(time.Minute); onCPU() < want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("read %d: the burner did not run 20 ms in a minute", i)
			}
		}
		lo := onCPU()
		p, ok := find(read(t, c), uint32(pid))
		hi := onCPU()
		if !ok {
			t.Fatalf("read %d: running burner missing", i)
		}
		if p.CPUNs <= prev {
			t.Errorf("read %d: cpu %d after %d, though the burner ran 20 ms more", i, p.CPUNs, prev)
		}
		// The traced clock counts interrupt time the scheduler may leave
		// out: allow 5% and a millisecond.
		if got := time.Duration(p.CPUNs); got > hi+hi/20+time.Millisecond {
			t.Errorf("read %d: cpu %v, the scheduler counted at most %v", i, got, hi)
		}
		if i > 0 {
			d, lo, hi := time.Duration(p.CPUNs-prev), lo-prevHi, hi-prevLo
			if d < lo-time.Millisecond || d > hi+hi/20+time.Millisecond {
				t.Errorf("read %d: cpu grew by %v, the scheduler's count by %v to %v", i, d, lo, hi)
			}
		}
		prev, prevLo, prevHi = p.CPUNs, lo, hi
	}
}

func TestMapFull(t *testing.T) {
	*top.ProcsEntries = 1
	defer func() { *top.ProcsEntries = 0 }()
	c := start(t)
	// This process and two children make system calls: at least two of
	// the three find the map full.
	for range 2 {
		startKid(t, "sys:1000").run(t)
	}
	s := read(t, c)
	if len(s.Procs) > 1 {
		t.Errorf("%d processes in a map of 1", len(s.Procs))
	}
	if s.Lost < 1000 || s.Untracked.Syscalls < 1000 {
		t.Errorf("full map: lost %d, untracked %+v; want at least a child's 1000 calls", s.Lost, s.Untracked)
	}
	if st := c.Stats(); st.Lost < s.Lost {
		t.Errorf("Stats().Lost = %d, want at least %d", st.Lost, s.Lost)
	}
}

func TestAnyFD(t *testing.T) {
	defer top.ForceAnyFD()()
	c := start(t)
	// The sock tracepoints need no registers; without them, the fallback
	// takes the socket calls.
	if !c.AnyFD() || c.NetHooks() == top.NetSyscalls {
		t.Fatalf("anyFD %v, net %v", c.AnyFD(), c.NetHooks())
	}
	k := startKid(t, "file:"+t.TempDir())
	before, _ := find(read(t, c), k.pid)
	k.run(t)
	after, _ := find(read(t, c), k.pid)
	// The pipe, /dev/null and stdout count too.
	if r, w := after.ReadBytes-before.ReadBytes, after.WriteBytes-before.WriteBytes; r < fileRead+500 || w < fileWritten+800 {
		t.Errorf("every fd: read %d, written %d; want at least %d, %d", r, w, fileRead+500, fileWritten+800)
	}
}

func startNet(t *testing.T, topK int) metrics.Source {
	t.Helper()
	c, err := collector.New(top.NetName, collector.Config{TopK: topK})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatalf("%+v", err)
	}
	return c.(metrics.Source)
}

func TestProcnet(t *testing.T) {
	testutil.RequireBPF(t)
	all, one := startNet(t, 100000), startNet(t, 1)
	const m, r = 200000, 70000
	var kids []*kid
	for range 2 {
		addr, got := tcpServer(t, r)
		k := startKid(t, "tcp:"+addr+":"+strconv.Itoa(m))
		k.run(t)
		<-got
		kids = append(kids, k)
	}
	var e metrics.Emitter
	if err := all.Collect(&e); err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for _, d := range all.Describe() {
		described[d.Name] = true
	}
	for _, s := range e.Samples {
		if !described[s.Desc.Name] {
			t.Errorf("sample of undescribed family %s", s.Desc.Name)
		}
	}
	for _, k := range kids {
		pid := strconv.Itoa(int(k.pid))
		sent, _ := e.Sum("kscope_process_net_bytes_total", "pid", pid, "direction", "sent")
		recv, _ := e.Sum("kscope_process_net_bytes_total", "pid", pid, "direction", "received")
		if sent != m || recv != r {
			t.Errorf("pid %s: sent %v, received %v; want %d, %d", pid, sent, recv, m, r)
		}
	}

	// The children end: their entries leave the kernel map at the second
	// collection after, and their final counts stay in the family.
	for _, k := range kids {
		k.exit(t)
	}
	for i := range 3 {
		e.Reset()
		if err := all.Collect(&e); err != nil {
			t.Fatal(err)
		}
		for _, k := range kids {
			pid := strconv.Itoa(int(k.pid))
			if sent, _ := e.Sum("kscope_process_net_bytes_total", "pid", pid, "direction", "sent"); sent != m {
				t.Errorf("collection %d after the end of %s: sent %v, want %d", i, pid, sent, m)
			}
		}
	}

	// Top-1: one process keeps its series, the rest is in "other".
	e.Reset()
	if err := one.Collect(&e); err != nil {
		t.Fatal(err)
	}
	pids := map[string]bool{}
	for _, s := range e.Find("kscope_process_net_bytes_total") {
		pids[s.Label("pid")] = true
	}
	if len(pids) != 2 || !pids["other"] {
		t.Errorf("top-1: pids %v, want one and other", pids)
	}
	if other, _ := e.Sum("kscope_process_net_bytes_total", "pid", "other", "direction", "sent"); other < m {
		t.Errorf("other sent %v, want at least %d", other, m)
	}
}
