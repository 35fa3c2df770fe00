package tcp

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// The helper process that holds a test's network namespace: it runs this
// test binary again, in a new network namespace, until its stdin closes.
const netnsHelperEnv = "KSCOPE_TCP_NETNS_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(netnsHelperEnv) == "1" {
		os.Stdout.WriteString("ready\n")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// netns is a network namespace of the test's own, held by a helper
// process, so that the collector's counters see only the test's traffic
// and its walks find the namespace as they find a container's.
type netns struct {
	ino  uint32
	f    *os.File
	stop func() // ends the helper process
}

func newNetns(t testing.TB) *netns {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), netnsHelperEnv+"=1")
	// No Pdeathsig: it fires when the forking thread ends, and the test's
	// namespace threads do. The helper ends when its stdin closes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		testutil.Skip(t, "network namespaces (CLONE_NEWNET)", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stdin.Close()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("netns helper: %q, %v", line, err)
	}
	f, err := os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	n := &netns{ino: uint32(st.Ino), f: f, stop: stop}
	n.do(t, func() error { return linkUp("lo") })
	return n
}

// do runs fn on a thread inside the namespace: sockets it creates live
// there. The thread is never unlocked, so it ends with its goroutine.
func (n *netns) do(t testing.TB, fn func() error) {
	t.Helper()
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- err
			return
		}
		ch <- fn()
	}()
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}

// linkUp brings a network interface up, as `ip link set NAME up` does.
func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// listen listens on plain TCP (not MPTCP) in the namespace, or in the
// test's own when n is nil.
func (n *netns) listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	fn := func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err = lc.Listen(context.Background(), network, addr)
		return err
	}
	if n == nil {
		if err := fn(); err != nil {
			t.Fatal(err)
		}
	} else {
		n.do(t, fn)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial dials plain TCP in the namespace, or in the test's own when n is nil.
func (n *netns) dial(t testing.TB, network, addr string) (net.Conn, error) {
	t.Helper()
	var (
		conn net.Conn
		err  error
	)
	fn := func() error {
		var d net.Dialer
		d.SetMultipathTCP(false)
		conn, err = d.Dial(network, addr)
		return nil
	}
	if n == nil {
		fn()
	} else {
		n.do(t, fn)
	}
	return conn, err
}

// pair connects a client to ln and returns both ends, closed when the
// test ends.
func (n *netns) pair(t testing.TB, ln net.Listener) (client, server net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := n.dial(t, ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// transfer writes n bytes on w and reads them all on r.
func transfer(t testing.TB, w, r net.Conn, n int) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, r, int64(n))
		errc <- err
	}()
	if _, err := w.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func port(a net.Addr) string { return strconv.Itoa(a.(*net.TCPAddr).Port) }

// start runs a tcp collector until the test ends; tune sets its test knobs.
func start(t testing.TB, topK int, tune func(*Collector)) *Collector {
	t.Helper()
	testutil.RequireBPF(t)
	cc, err := collector.New(Name, collector.Config{TopK: topK})
	if err != nil {
		t.Fatal(err)
	}
	c := cc.(*Collector)
	c.walkEvery = 0
	if tune != nil {
		tune(c)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		c.Close()
		t.Fatalf("starting: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	return c
}

func collect(t testing.TB, c *Collector) *metrics.Emitter {
	t.Helper()
	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatalf("collecting: %v", err)
	}
	return &e
}

// value returns the one sample of name matching the label pairs, or -1
// when there is none; more than one fails the test.
func value(t testing.TB, e *metrics.Emitter, name string, match ...string) float64 {
	t.Helper()
	ss := e.Find(name, match...)
	switch len(ss) {
	case 0:
		return -1
	case 1:
		if ss[0].Hist != nil {
			return float64(ss[0].Hist.Count())
		}
		return ss[0].Value
	}
	t.Fatalf("%s %q: %d samples", name, match, len(ss))
	return 0
}

// eventually collects until ok holds or two seconds pass, and returns the
// last collection.
func eventually(t testing.TB, c *Collector, ok func(*metrics.Emitter) bool) *metrics.Emitter {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		e := collect(t, c)
		if ok(e) || time.Now().After(deadline) {
			return e
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// endpoint returns the label pairs of an endpoint series.
func endpoint(laddr, lport, raddr, rport string) []string {
	return []string{"laddr", laddr, "lport", lport, "raddr", raddr, "rport", rport}
}
