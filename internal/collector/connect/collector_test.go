package connect_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	kconnect "github.com/kscope/kscope/internal/collector/connect"
	"github.com/kscope/kscope/internal/collector/dispatch"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/testutil"
)

// wantVariant is the variant the test running wants Start to choose; ""
// takes any.
var wantVariant string

// both runs f with the handlers in the syscall dispatcher's slots and on
// their own syscall tracepoints.
func both(t *testing.T, f func(t *testing.T)) {
	for _, v := range []string{dispatch.Kind, kconnect.VariantTracepoints} {
		t.Run(v, func(t *testing.T) {
			if v != dispatch.Kind {
				defer bpfx.ForceHook(kconnect.Name, v)()
			}
			wantVariant = v
			defer func() { wantVariant = "" }()
			f(t)
		})
	}
}

// checkVariant fails the test when c is not the variant it wants.
func checkVariant(t *testing.T, c collector.Collector) {
	t.Helper()
	if got := c.(*kconnect.Collector).Variant(); wantVariant != "" && got != wantVariant {
		t.Fatalf("variant %s, want %s", got, wantVariant)
	}
}

// start runs a connect collector with filter f until the test ends.
func start(t *testing.T, f collector.Filter) (collector.Collector, *testutil.Capture) {
	t.Helper()
	testutil.RequireBPF(t)
	c, err := collector.New(kconnect.Name, collector.Config{Filter: f, RingBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	sink := testutil.NewCapture()
	if err := c.Start(context.Background(), sink); err != nil {
		c.Close()
		t.Fatalf("starting: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	checkVariant(t, c)
	return c, sink
}

// events returns the connects to daddr:dport so far.
func events(sink *testutil.Capture, daddr string, dport int) []event.Connect {
	var out []event.Connect
	for _, ev := range sink.Events() {
		if e, ok := ev.(*event.Connect); ok && e.DAddr == daddr && int(e.DPort) == dport {
			out = append(out, *e)
		}
	}
	return out
}

// find returns the first connect to daddr:dport, waiting up to timeout.
func find(sink *testutil.Capture, daddr string, dport int, timeout time.Duration) (event.Connect, bool) {
	ev, ok := sink.WaitFor(timeout, func(ev event.Event) bool {
		e, isConnect := ev.(*event.Connect)
		return isConnect && e.DAddr == daddr && int(e.DPort) == dport
	})
	if !ok {
		return event.Connect{}, false
	}
	return *ev.(*event.Connect), true
}

// waitCount waits up to timeout for n connects to daddr:dport.
func waitCount(sink *testutil.Capture, daddr string, dport, n int, timeout time.Duration) []event.Connect {
	deadline := time.Now().Add(timeout)
	for {
		evs := events(sink, daddr, dport)
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const wait = 2 * time.Second

func self() collector.Filter { return collector.Filter{PID: uint32(os.Getpid())} }

// listen returns a TCP listener on addr, closed when the test ends.
func listen(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// closedPort returns a loopback TCP port nobody listens on, held for the
// test.
func closedPort(t *testing.T) int { return testutil.ClosedPort(t) }

// dialTCP dials plain TCP (not MPTCP) to addr.
func dialTCP(network, addr string) (net.Conn, error) {
	var d net.Dialer
	d.SetMultipathTCP(false)
	return d.Dial(network, addr)
}

// binaryStart is when the test binary started.
var binaryStart = time.Now()

// check compares the fields of e that a test knows in advance.
func check(t *testing.T, e event.Connect, family, proto, saddr string, sport int, ret int32, errName string) {
	t.Helper()
	if e.Family != family || e.Proto != proto || e.SAddr != saddr || int(e.SPort) != sport || e.Ret != ret || e.Error != errName {
		t.Errorf("got family %s proto %s src %s:%d ret %d error %q\nwant family %s proto %s src %s:%d ret %d error %q",
			e.Family, e.Proto, e.SAddr, e.SPort, e.Ret, e.Error, family, proto, saddr, sport, ret, errName)
	}
	if e.Type != "connect" || e.PID != uint32(os.Getpid()) || e.TID == 0 || e.Comm == "" || e.CgroupID == 0 {
		t.Errorf("header %+v", e.Header)
	}
	// The test binary's run brackets every event it causes.
	if e.LatencyNS == 0 || e.LatencyNS > uint64(time.Since(binaryStart)) {
		t.Errorf("latency %v, the test binary has run %v", time.Duration(e.LatencyNS), time.Since(binaryStart))
	}
	testutil.Between(t, "time", e.Time, binaryStart, time.Now())
}

func TestConnectTCP4(t *testing.T) { both(t, testConnectTCP4) }

func testConnectTCP4(t *testing.T) {
	_, s := start(t, self())
	ln := listen(t, "tcp4", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	conn, err := dialTCP("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e, ok := find(s, "127.0.0.1", port, wait)
	if !ok {
		t.Fatalf("no event for 127.0.0.1:%d", port)
	}
	check(t, e, "inet", "tcp", "127.0.0.1", conn.LocalAddr().(*net.TCPAddr).Port, 0, "")
}

// Go's non-blocking connect gets EINPROGRESS; the event has the handshake's
// ECONNREFUSED.
func TestConnectRefused(t *testing.T) { both(t, testConnectRefused) }

func testConnectRefused(t *testing.T) {
	_, s := start(t, self())
	port := closedPort(t)
	_, err := dialTCP("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dialing a closed port: %v", err)
	}
	e, ok := find(s, "127.0.0.1", port, wait)
	if !ok {
		t.Fatalf("no event for 127.0.0.1:%d", port)
	}
	// The local port is the one the refused SYN came from; nothing to compare it with.
	check(t, e, "inet", "tcp", "127.0.0.1", int(e.SPort), -111, "ECONNREFUSED")
	if e.SPort == 0 {
		t.Error("no local port")
	}
}

func TestConnectTCP6(t *testing.T) { both(t, testConnectTCP6) }

func testConnectTCP6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		testutil.Skip(t, "IPv6 loopback", err)
	}
	defer ln.Close()
	_, s := start(t, self())
	port := ln.Addr().(*net.TCPAddr).Port
	conn, err := dialTCP("tcp6", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e, ok := find(s, "::1", port, wait)
	if !ok {
		t.Fatalf("no event for [::1]:%d", port)
	}
	check(t, e, "inet6", "tcp", "::1", conn.LocalAddr().(*net.TCPAddr).Port, 0, "")
}

func TestConnectUDP(t *testing.T) { both(t, testConnectUDP) }

func testConnectUDP(t *testing.T) {
	_, s := start(t, self())
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	conn, err := net.Dial("udp4", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e, ok := find(s, "127.0.0.1", port, wait)
	if !ok {
		t.Fatalf("no event for 127.0.0.1:%d", port)
	}
	check(t, e, "inet", "udp", "127.0.0.1", conn.LocalAddr().(*net.UDPAddr).Port, 0, "")
}

// connectBlocking connects a blocking socket of the family of sa to sa and
// returns its local port.
func connectBlocking(t *testing.T, family int, sa syscall.Sockaddr) (int, error) {
	t.Helper()
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	err = syscall.Connect(fd, sa)
	local, _ := syscall.Getsockname(fd)
	switch a := local.(type) {
	case *syscall.SockaddrInet4:
		return a.Port, err
	case *syscall.SockaddrInet6:
		return a.Port, err
	}
	return 0, err
}

// A blocking connect never sees EINPROGRESS: the syscall's result is reported.
func TestConnectBlocking(t *testing.T) { both(t, testConnectBlocking) }

func testConnectBlocking(t *testing.T) {
	_, s := start(t, self())
	loop := [4]byte{127, 0, 0, 1}

	t.Run("refused", func(t *testing.T) {
		port := closedPort(t)
		_, err := connectBlocking(t, syscall.AF_INET, &syscall.SockaddrInet4{Port: port, Addr: loop})
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connecting to a closed port: %v", err)
		}
		e, ok := find(s, "127.0.0.1", port, wait)
		if !ok {
			t.Fatalf("no event for 127.0.0.1:%d", port)
		}
		check(t, e, "inet", "tcp", "127.0.0.1", int(e.SPort), -111, "ECONNREFUSED")
	})
	t.Run("established", func(t *testing.T) {
		ln := listen(t, "tcp4", "127.0.0.1:0")
		port := ln.Addr().(*net.TCPAddr).Port
		sport, err := connectBlocking(t, syscall.AF_INET, &syscall.SockaddrInet4{Port: port, Addr: loop})
		if err != nil {
			t.Fatal(err)
		}
		e, ok := find(s, "127.0.0.1", port, wait)
		if !ok {
			t.Fatalf("no event for 127.0.0.1:%d", port)
		}
		check(t, e, "inet", "tcp", "127.0.0.1", sport, 0, "")
	})
	// An IPv6 socket connecting to an IPv4-mapped address: shown as written.
	t.Run("IPv4-mapped", func(t *testing.T) {
		if fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM, 0); err != nil {
			testutil.Skip(t, "IPv6 sockets", err)
		} else {
			syscall.Close(fd)
		}
		ln := listen(t, "tcp4", "127.0.0.1:0")
		port := ln.Addr().(*net.TCPAddr).Port
		mapped := [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}
		sport, err := connectBlocking(t, syscall.AF_INET6, &syscall.SockaddrInet6{Port: port, Addr: mapped})
		if err != nil {
			t.Fatal(err)
		}
		e, ok := find(s, "::ffff:127.0.0.1", port, wait)
		if !ok {
			t.Fatalf("no event for [::ffff:127.0.0.1]:%d", port)
		}
		check(t, e, "inet6", "tcp", "::ffff:127.0.0.1", sport, 0, "")
	})
}

// fullListener returns a loopback listener whose accept queue holds one
// connection, and that connection: further SYNs are dropped until it is
// accepted, so their handshakes end after connect has returned.
func fullListener(t *testing.T) (fd, port int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	port = sa.(*syscall.SockaddrInet4).Port
	first, err := dialTCP("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })
	return fd, port
}

// waitSynSent waits until a socket of this network namespace is in SYN_SENT
// towards 127.0.0.1:port: its first SYN went out (and a full listener
// dropped it).
func waitSynSent(t *testing.T, port int) {
	t.Helper()
	rem := fmt.Sprintf("0100007F:%04X", port)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 3 && f[2] == rem && f[3] == "02" {
				return
			}
		}
	}
	t.Fatalf("no socket in SYN_SENT to port %d", port)
}

// A handshake that ends after connect returned EINPROGRESS is reported when
// it ends, with its duration.
func TestConnectLateHandshake(t *testing.T) { both(t, testConnectLateHandshake) }

func testConnectLateHandshake(t *testing.T) {
	_, s := start(t, self())

	t.Run("established", func(t *testing.T) {
		fd, port := fullListener(t)
		type result struct {
			conn net.Conn
			err  error
		}
		done := make(chan result, 1)
		began := time.Now()
		go func() {
			c, err := dialTCP("tcp4", "127.0.0.1:"+strconv.Itoa(port))
			done <- result{c, err}
		}()
		// Once the first SYN was dropped, make room: the SYN retransmitted
		// after the initial timeout (a second) gets through.
		waitSynSent(t, port)
		nfd, _, err := syscall.Accept(fd)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(nfd)
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.conn.Close()
		took := time.Since(began)
		sport := r.conn.LocalAddr().(*net.TCPAddr).Port
		var e event.Connect
		for _, x := range waitCount(s, "127.0.0.1", port, 2, wait) {
			if int(x.SPort) == sport {
				e = x
			}
		}
		if e.Type == "" {
			t.Fatalf("no event from port %d to %d: %+v", sport, port, events(s, "127.0.0.1", port))
		}
		check(t, e, "inet", "tcp", "127.0.0.1", sport, 0, "")
		if lat := time.Duration(e.LatencyNS); lat < 900*time.Millisecond || lat > took {
			t.Errorf("latency %v, want the handshake's (past the 1 s SYN timeout, at most %v)", lat, took)
		}
	})
	t.Run("abandoned", func(t *testing.T) {
		_, port := fullListener(t)
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		beforeConnect := time.Now()
		err = syscall.Connect(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
		afterConnect := time.Now()
		if err != syscall.EINPROGRESS {
			syscall.Close(fd)
			t.Fatalf("connect to a full listener: %v, want EINPROGRESS", err)
		}
		sa, _ := syscall.Getsockname(fd)
		sport := sa.(*syscall.SockaddrInet4).Port
		waitSynSent(t, port)
		beforeClose := time.Now()
		syscall.Close(fd)
		afterClose := time.Now()
		var got []event.Connect
		for _, x := range waitCount(s, "127.0.0.1", port, 2, wait) {
			if x.Ret != 0 {
				got = append(got, x)
			}
		}
		if len(got) != 1 {
			t.Fatalf("want one failed event to port %d, got %+v", port, got)
		}
		// Closed before the handshake ended: nothing but EINPROGRESS to say.
		check(t, got[0], "inet", "tcp", "127.0.0.1", sport, -115, "EINPROGRESS")
		// From the connect to the close, read on the clock around both.
		if lat, lo, hi := time.Duration(got[0].LatencyNS), beforeClose.Sub(afterConnect), afterClose.Sub(beforeConnect); lat < lo || lat > hi {
			t.Errorf("latency %v, want %v to %v", lat, lo, hi)
		}
	})
}

func TestConnectFailedFilter(t *testing.T) { both(t, testConnectFailedFilter) }

func testConnectFailedFilter(t *testing.T) {
	c, s := start(t, collector.Filter{PID: uint32(os.Getpid()), Failed: true})
	ln := listen(t, "tcp4", "127.0.0.1:0")
	okPort := ln.Addr().(*net.TCPAddr).Port
	conn, err := dialTCP("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	badPort := closedPort(t)
	dialTCP("tcp4", "127.0.0.1:"+strconv.Itoa(badPort))

	if e, ok := find(s, "127.0.0.1", badPort, wait); !ok || e.Error != "ECONNREFUSED" {
		t.Fatalf("refused connect: found %v, event %+v", ok, e)
	}
	if e, ok := find(s, "127.0.0.1", okPort, 200*time.Millisecond); ok {
		t.Errorf("successful connect reported with --failed: %+v", e)
	}
	if st := c.Stats(); st.Filtered == 0 {
		t.Errorf("stats %+v: nothing counted as filtered", st)
	}
}

// An MPTCP socket is reported as such: the connect is made on it, not on
// its TCP subflows. A refusal reaches it from its first subflow.
func TestConnectMPTCP(t *testing.T) {
	_, s := start(t, self())
	var d net.Dialer
	d.SetMultipathTCP(true)

	ln := listen(t, "tcp4", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	conn, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if mp, err := conn.(*net.TCPConn).MultipathTCP(); err != nil || !mp {
		testutil.Skip(t, "MPTCP (net.mptcp.enabled)", err)
	}
	e, ok := find(s, "127.0.0.1", port, wait)
	if !ok {
		t.Fatalf("no event for 127.0.0.1:%d", port)
	}
	check(t, e, "inet", "mptcp", "127.0.0.1", conn.LocalAddr().(*net.TCPAddr).Port, 0, "")

	// Go retries a failed MPTCP dial over plain TCP: look for the first.
	port = closedPort(t)
	if _, err := d.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dialing a closed port: %v", err)
	}
	e, ok = find(s, "127.0.0.1", port, wait)
	if !ok {
		t.Fatalf("no event for 127.0.0.1:%d", port)
	}
	check(t, e, "inet", "mptcp", "127.0.0.1", int(e.SPort), -111, "ECONNREFUSED")
}

// An inet destination passed to a non-inet socket is not reported; one
// passed to a file that is no socket is, as ENOTSOCK with no protocol.
func TestConnectNotInet(t *testing.T) {
	_, s := start(t, self())
	loop := [4]byte{127, 0, 0, 1}

	unixFD, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(unixFD)
	unixPort := closedPort(t)
	if err := syscall.Connect(unixFD, &syscall.SockaddrInet4{Port: unixPort, Addr: loop}); err == nil {
		t.Fatal("connecting a unix socket to an inet address succeeded")
	}

	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	filePort := closedPort(t)
	if err := syscall.Connect(int(f.Fd()), &syscall.SockaddrInet4{Port: filePort, Addr: loop}); !errors.Is(err, syscall.ENOTSOCK) {
		t.Fatalf("connecting %s: %v", os.DevNull, err)
	}

	e, ok := find(s, "127.0.0.1", filePort, wait)
	if !ok {
		t.Fatalf("no event for the connect on %s", os.DevNull)
	}
	if e.Family != "inet" || e.Proto != "" || e.Ret != -88 || e.Error != "ENOTSOCK" || e.SAddr != "0.0.0.0" || e.SPort != 0 {
		t.Errorf("connect on a file: %+v", e)
	}
	if e, ok := find(s, "127.0.0.1", unixPort, 0); ok {
		t.Errorf("connect on a unix socket reported: %+v", e)
	}
}

// untouchedSockaddr returns a sockaddr_in for 127.0.0.1:port in a file page
// mapped but never touched by this process, as a forked child's data may
// be: the kernel can fault it in, a BPF program cannot.
func untouchedSockaddr(t *testing.T, port int) uintptr {
	t.Helper()
	sa := make([]byte, unix.SizeofSockaddrInet4)
	binary.LittleEndian.PutUint16(sa[0:], unix.AF_INET)
	binary.BigEndian.PutUint16(sa[2:], uint16(port))
	copy(sa[4:], []byte{127, 0, 0, 1})
	path := filepath.Join(t.TempDir(), "sockaddr")
	if err := os.WriteFile(path, sa, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return uintptr(unsafe.Pointer(unsafe.SliceData(m)))
}

// rawConnect calls connect(2) on a new TCP socket with the sockaddr at sa
// (memory this Go program does not manage: a mapping or a bad pointer).
func rawConnect(t *testing.T, sa uintptr, flags int) unix.Errno {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|flags, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	_, _, errno := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), sa, unix.SizeofSockaddrInet4)
	return errno
}

// A destination the caller has not touched is read at exit, after the
// kernel copied it; one nobody can read (a bad pointer) is flagged and
// counted, not reported as 0.0.0.0:0, and not dropped.
func TestConnectUnreadableAddr(t *testing.T) {
	c, s := start(t, self())
	ln := listen(t, "tcp4", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port

	if errno := rawConnect(t, untouchedSockaddr(t, port), 0); errno != 0 {
		t.Fatalf("blocking connect: %v", errno)
	}
	if errno := rawConnect(t, untouchedSockaddr(t, port), unix.SOCK_NONBLOCK); errno != unix.EINPROGRESS {
		t.Fatalf("non-blocking connect: %v, want EINPROGRESS", errno)
	}
	evs := waitCount(s, "127.0.0.1", port, 2, 5*time.Second)
	if len(evs) != 2 {
		t.Fatalf("%d connects to 127.0.0.1:%d, want 2", len(evs), port)
	}
	for _, e := range evs {
		check(t, e, "inet", "tcp", "127.0.0.1", int(e.SPort), 0, "")
		if e.AddrUnavailable || e.SPort == 0 {
			t.Errorf("addr_unavailable %v sport %d", e.AddrUnavailable, e.SPort)
		}
	}

	if errno := rawConnect(t, 1, 0); errno != unix.EFAULT {
		t.Fatalf("connect with a bad pointer: %v, want EFAULT", errno)
	}
	ev, ok := s.WaitFor(wait, func(ev event.Event) bool {
		e, isConnect := ev.(*event.Connect)
		return isConnect && e.Error == "EFAULT"
	})
	if !ok {
		t.Fatal("no event for the connect with a bad pointer")
	}
	if e := ev.(*event.Connect); !e.AddrUnavailable || e.DAddr != "" || e.DPort != 0 || e.Family != "inet" || e.Proto != "tcp" {
		t.Errorf("bad pointer: addr_unavailable %v daddr %q dport %d family %s proto %s", e.AddrUnavailable, e.DAddr, e.DPort, e.Family, e.Proto)
	}
	if st := c.Stats(); st.Unreadable != 1 {
		t.Errorf("unreadable = %d, want 1 (stats %+v)", st.Unreadable, st)
	}
}
