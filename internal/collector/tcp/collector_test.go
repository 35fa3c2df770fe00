package tcp

import (
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

func TestBytesIPv4(t *testing.T) { testBytes(t, "tcp4", "127.0.0.1", false) }
func TestBytesIPv6(t *testing.T) { testBytes(t, "tcp6", "::1", false) }

// The raw_tracepoint flavour, for kernels without tp_btf.
func TestBytesRawTracepoint(t *testing.T) { testBytes(t, "tcp4", "127.0.0.1", true) }

// testBytes checks the exact bytes of a connection in both directions while
// it is open and after it closed, on the client's and the server's series,
// with the open, close, duration and state counts.
func testBytes(t *testing.T, network, host string, raw bool) {
	ns := newNetns(t)
	if raw {
		defer bpfx.ForceHook(Name, bpfx.FeatRawTracepoint)()
	}
	c := start(t, 10, func(c *Collector) { c.netns = ns.ino })
	ln := ns.listen(t, network, net.JoinHostPort(host, "0"))
	p := port(ln.Addr())
	client, server := ns.pair(t, ln)

	const k1, k2, m1 = 100_000, 7_777, 3_333
	transfer(t, client, server, k1)
	transfer(t, server, client, k2)
	cl, sv := endpoint(host, "", host, p), endpoint(host, p, host, "")
	want := map[string]float64{}
	check := func(e *metrics.Emitter) bool {
		for k, v := range want {
			name, series := split(k)
			if value(t, e, name, series...) != v {
				return false
			}
		}
		return true
	}
	set := func(name string, labels []string, v float64) { want[join(name, labels)] = v }
	set("kscope_tcp_endpoint_sent_bytes_total", cl, k1)
	set("kscope_tcp_endpoint_received_bytes_total", cl, k2)
	set("kscope_tcp_endpoint_sent_bytes_total", sv, k2)
	set("kscope_tcp_endpoint_received_bytes_total", sv, k1)
	set("kscope_tcp_endpoint_connections_total", cl, 1)
	set("kscope_tcp_endpoint_connections_total", sv, 1)
	set("kscope_tcp_sent_bytes_total", nil, k1+k2)
	set("kscope_tcp_received_bytes_total", nil, k1+k2)
	set("kscope_tcp_connections_opened_total", []string{"direction", "active"}, 1)
	set("kscope_tcp_connections_opened_total", []string{"direction", "passive"}, 1)
	set("kscope_tcp_connections_closed_total", nil, 0)
	set("kscope_tcp_connections", []string{"state", "established"}, 2)
	set("kscope_tcp_connections", []string{"state", "listen"}, 1)
	set("kscope_tcp_connection_duration_seconds", nil, 0)
	e := eventually(t, c, check)
	report(t, "open", e, want)

	// More, then the client closes first and the server after reading EOF.
	transfer(t, client, server, m1)
	time.Sleep(20 * time.Millisecond)
	client.Close()
	if n, err := server.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("server read %d, %v after the client closed", n, err)
	}
	server.Close()
	set("kscope_tcp_endpoint_sent_bytes_total", cl, k1+m1)
	set("kscope_tcp_endpoint_received_bytes_total", sv, k1+m1)
	set("kscope_tcp_sent_bytes_total", nil, k1+k2+m1)
	set("kscope_tcp_received_bytes_total", nil, k1+k2+m1)
	set("kscope_tcp_connections_closed_total", nil, 2)
	set("kscope_tcp_connections", []string{"state", "established"}, 0)
	set("kscope_tcp_connection_duration_seconds", nil, 2)
	e = eventually(t, c, check)
	report(t, "closed", e, want)
	if t.Failed() {
		for _, s := range e.Samples {
			t.Logf("%s %q %v", s.Desc.Name, s.Values, s.Value)
		}
	}
	if s := e.Find("kscope_tcp_connection_duration_seconds"); len(s) == 1 && s[0].Hist.Sum < 0.04 {
		t.Errorf("durations add up to %gs, want at least 0.04s", s[0].Hist.Sum)
	}
	if v := value(t, e, "kscope_tcp_resets_total", "direction", "sent"); v != 0 {
		t.Errorf("%v resets sent on a clean close", v)
	}
	checkDescribed(t, c, e)
}

func join(name string, labels []string) string {
	s := name
	for _, l := range labels {
		s += "\x00" + l
	}
	return s
}

func split(k string) (string, []string) {
	var parts []string
	start := 0
	for i := 0; i < len(k); i++ {
		if k[i] == 0 {
			parts = append(parts, k[start:i])
			start = i + 1
		}
	}
	parts = append(parts, k[start:])
	return parts[0], parts[1:]
}

// report fails the test for every wanted value that differs.
func report(t *testing.T, when string, e *metrics.Emitter, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		name, series := split(k)
		if got := value(t, e, name, series...); got != v {
			t.Errorf("%s: %s %q = %v, want %v", when, name, series, got, v)
		}
	}
}

// checkDescribed fails for any sample whose family Describe does not list.
func checkDescribed(t *testing.T, c *Collector, e *metrics.Emitter) {
	t.Helper()
	described := map[*metrics.Desc]bool{}
	for _, d := range c.Describe() {
		described[d] = true
	}
	for _, s := range e.Samples {
		if !described[s.Desc] {
			t.Errorf("%s emitted but not described", s.Desc.Name)
		}
	}
}

// A connect to a closed port fails with ECONNREFUSED: one failed connect,
// one reset received by the client, nothing opened or closed.
func TestRefused(t *testing.T) {
	ns := newNetns(t)
	c := start(t, 10, func(c *Collector) { c.netns = ns.ino })
	ln := ns.listen(t, "tcp4", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if _, err := ns.dial(t, "tcp4", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dialing a closed port: %v", err)
	}
	e := eventually(t, c, func(e *metrics.Emitter) bool {
		return value(t, e, "kscope_tcp_connections_failed_total", "errno", "ECONNREFUSED") == 1
	})
	report(t, "refused", e, map[string]float64{
		join("kscope_tcp_connections_failed_total", []string{"errno", "ECONNREFUSED"}): 1,
		join("kscope_tcp_resets_total", []string{"direction", "received"}):             1,
		join("kscope_tcp_connections_opened_total", []string{"direction", "active"}):   0,
		join("kscope_tcp_connections_closed_total", nil):                               0,
	})
	if n := len(e.Find("kscope_tcp_connections_failed_total")); n != 1 {
		t.Errorf("%d failed series, want 1", n)
	}
	// The refusing reset answers a segment for no socket: kernels whose
	// tcp_send_reset reports those count it.
	t.Logf("resets sent: %v", value(t, e, "kscope_tcp_resets_total", "direction", "sent"))
}

// A close with SO_LINGER 0 sends a reset instead of a FIN: one sent, one
// received, both connections closed.
func TestReset(t *testing.T) {
	ns := newNetns(t)
	c := start(t, 10, func(c *Collector) { c.netns = ns.ino })
	ln := ns.listen(t, "tcp4", "127.0.0.1:0")
	client, server := ns.pair(t, ln)
	transfer(t, client, server, 1000)
	if err := client.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	client.Close()
	if _, err := server.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("server read after the reset: %v", err)
	}
	want := map[string]float64{
		join("kscope_tcp_resets_total", []string{"direction", "sent"}):     1,
		join("kscope_tcp_resets_total", []string{"direction", "received"}): 1,
		join("kscope_tcp_connections_closed_total", nil):                   2,
		join("kscope_tcp_sent_bytes_total", nil):                           1000,
		join("kscope_tcp_received_bytes_total", nil):                       1000,
	}
	e := eventually(t, c, func(e *metrics.Emitter) bool {
		return value(t, e, "kscope_tcp_connections_closed_total") == 2
	})
	report(t, "reset", e, want)
}

// Per-endpoint families are bounded to K series and other; the values of
// every series add up to the totals.
func TestTopK(t *testing.T) {
	ns := newNetns(t)
	c := start(t, 2, func(c *Collector) { c.netns = ns.ino })
	var total float64
	for i := 1; i <= 5; i++ {
		ln := ns.listen(t, "tcp4", "127.0.0.1:0")
		client, server := ns.pair(t, ln)
		transfer(t, client, server, i*1000)
		total += float64(i * 1000)
	}
	e := eventually(t, c, func(e *metrics.Emitter) bool {
		v, _ := e.Sum("kscope_tcp_endpoint_received_bytes_total")
		return v == total
	})
	defer func() {
		if t.Failed() {
			for _, s := range e.Samples {
				t.Logf("%s %q %v", s.Desc.Name, s.Values, s.Value)
			}
		}
	}()
	for _, name := range []string{"kscope_tcp_endpoint_sent_bytes_total", "kscope_tcp_endpoint_received_bytes_total",
		"kscope_tcp_endpoint_connections_total"} {
		if n := len(e.Find(name)); n != 3 {
			t.Errorf("%s: %d series, want 2 and other", name, n)
		}
		if len(e.Find(name, endpoint("other", "other", "other", "other")...)) != 1 {
			t.Errorf("%s: no other series", name)
		}
	}
	for _, name := range []string{"kscope_tcp_endpoint_sent_bytes_total", "kscope_tcp_endpoint_received_bytes_total"} {
		if v, _ := e.Sum(name); v != total {
			t.Errorf("%s adds up to %v, want %v", name, v, total)
		}
	}
	if v, _ := e.Sum("kscope_tcp_endpoint_connections_total"); v != 10 {
		t.Errorf("endpoint connections add up to %v, want 10", v)
	}
	// The two kept are the busiest: the server and client sides of the
	// 5000-byte connection (ties broken by key).
	for _, s := range e.Find("kscope_tcp_endpoint_received_bytes_total") {
		if s.Label("laddr") != "other" && s.Value != 5000 && s.Value != 0 {
			t.Errorf("kept %v with %v bytes received", s.Values, s.Value)
		}
	}
}

// With room for two connections and two endpoints, the rest is counted as
// map full, goes to other, and the totals stay exact.
func TestMapFull(t *testing.T) {
	ns := newNetns(t)
	// Three endpoint entries: the overflow one and two more.
	c := start(t, 10, func(c *Collector) { c.netns, c.connsMax, c.endpointsMax = ns.ino, 2, 3 })
	// Every connection open at once, each to a port of its own: eight
	// sockets for two conns entries, eight endpoints for two.
	const conns = 4
	type pair struct{ client, server net.Conn }
	var pairs []pair
	for i := 0; i < conns; i++ {
		ln := ns.listen(t, "tcp4", "127.0.0.1:0")
		client, server := ns.pair(t, ln)
		transfer(t, client, server, 1000)
		pairs = append(pairs, pair{client, server})
	}
	for _, p := range pairs {
		p.client.Close()
		p.server.Read(make([]byte, 1))
		p.server.Close()
	}
	e := eventually(t, c, func(e *metrics.Emitter) bool {
		return value(t, e, "kscope_tcp_connections_closed_total") == 2*conns
	})
	report(t, "full", e, map[string]float64{
		join("kscope_tcp_sent_bytes_total", nil):     1000 * conns,
		join("kscope_tcp_received_bytes_total", nil): 1000 * conns,
	})
	if v := value(t, e, "kscope_tcp_dropped_total", "reason", "connections_map_full"); v < 1 {
		t.Errorf("connections map full %v times, want some", v)
	}
	// Client and server sides: two endpoints fit, the other one overflows.
	if v := value(t, e, "kscope_tcp_dropped_total", "reason", "endpoints_map_full"); v < 1 {
		t.Errorf("endpoints map full %v times, want some", v)
	}
	for _, m := range []string{"conns", "endpoints"} {
		if v := value(t, e, "kscope_self_map_drops_total", "collector", "tcp", "map", m); v < 1 {
			t.Errorf("kscope_self_map_drops_total{map=%q} %v, want some", m, v)
		}
	}
	if v, _ := e.Sum("kscope_tcp_endpoint_received_bytes_total"); v != 1000*conns {
		t.Errorf("endpoint bytes received add up to %v, want %v", v, 1000*conns)
	}
	if c.Stats().Lost == 0 {
		t.Error("no loss in Stats")
	}
}

// The agent's view: a loopback connection in the host's namespace, with no
// namespace filter; other traffic may run, the test's ports are its own.
func TestHostNamespace(t *testing.T) {
	testutil.RequireBPF(t)
	if err := linkUp("lo"); err != nil {
		t.Fatalf("bringing lo up: %v", err)
	}
	c := start(t, 1000, nil)
	ln := (*netns)(nil).listen(t, "tcp4", "127.0.0.1:0")
	p := port(ln.Addr())
	client, server := (*netns)(nil).pair(t, ln)
	const k = 54_321
	transfer(t, server, client, k)
	transfer(t, client, server, 99)
	client.Close()
	server.Close()
	cl, sv := endpoint("127.0.0.1", "", "127.0.0.1", p), endpoint("127.0.0.1", p, "127.0.0.1", "")
	want := map[string]float64{
		join("kscope_tcp_endpoint_received_bytes_total", cl): k,
		join("kscope_tcp_endpoint_sent_bytes_total", cl):     99,
		join("kscope_tcp_endpoint_sent_bytes_total", sv):     k,
		join("kscope_tcp_endpoint_received_bytes_total", sv): 99,
		join("kscope_tcp_endpoint_connections_total", cl):    1,
		join("kscope_tcp_endpoint_connections_total", sv):    1,
	}
	e := eventually(t, c, func(e *metrics.Emitter) bool {
		for k, v := range want {
			name, series := split(k)
			if value(t, e, name, series...) != v {
				return false
			}
		}
		return true
	})
	report(t, "host", e, want)
}

// Connections open when the collector starts count from then on.
func TestOpenBeforeStart(t *testing.T) {
	ns := newNetns(t)
	ln := ns.listen(t, "tcp6", "[::1]:0")
	p := port(ln.Addr())
	client, server := ns.pair(t, ln)
	transfer(t, client, server, 5000)
	transfer(t, server, client, 6000)
	time.Sleep(50 * time.Millisecond) // the last ACKs
	c := start(t, 10, func(c *Collector) { c.netns = ns.ino })
	transfer(t, client, server, 300)
	transfer(t, server, client, 400)
	client.Close()
	server.Read(make([]byte, 1))
	server.Close()
	cl, sv := endpoint("::1", "", "::1", p), endpoint("::1", p, "::1", "")
	want := map[string]float64{
		join("kscope_tcp_endpoint_sent_bytes_total", cl):                             300,
		join("kscope_tcp_endpoint_received_bytes_total", cl):                         400,
		join("kscope_tcp_endpoint_sent_bytes_total", sv):                             400,
		join("kscope_tcp_endpoint_received_bytes_total", sv):                         300,
		join("kscope_tcp_connections_closed_total", nil):                             2,
		join("kscope_tcp_connection_duration_seconds", nil):                          0,
		join("kscope_tcp_connections_opened_total", []string{"direction", "active"}): 0,
	}
	e := eventually(t, c, func(e *metrics.Emitter) bool {
		return value(t, e, "kscope_tcp_connections_closed_total") == 2
	})
	report(t, "preexisting", e, want)
}

func TestFiltersRejected(t *testing.T) {
	for _, f := range []collector.Filter{{PID: 1}, {Comm: "x"}, {Failed: true}} {
		if _, err := collector.New(Name, collector.Config{Filter: f}); err == nil {
			t.Errorf("filter %+v accepted", f)
		}
	}
}

func TestCloseIdempotent(t *testing.T) {
	c := start(t, 10, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	var e metrics.Emitter
	if err := c.Collect(&e); !errors.Is(err, ErrClosed) {
		t.Fatalf("collect after close: %v", err)
	}
}

// A SYN to a listener whose accept queue is full is dropped: the client
// retransmits it once a second later, then gives up when its dial times
// out, closing the socket before the handshake ended.
func TestRetransmitAndAbandonedConnect(t *testing.T) {
	ns := newNetns(t)
	c := start(t, 10, func(c *Collector) { c.netns = ns.ino })
	var addr string
	ns.do(t, func() error {
		// Go's Listen takes the system's backlog; this one holds a single
		// connection.
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		t.Cleanup(func() { syscall.Close(fd) })
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
		if err := syscall.Listen(fd, 0); err != nil {
			return err
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			return err
		}
		addr = "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
		return nil
	})
	first, err := ns.dial(t, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	ns.do(t, func() error {
		// The first SYN is retransmitted after the initial RTO of one
		// second, the next not before three.
		d := net.Dialer{Timeout: 1800 * time.Millisecond}
		d.SetMultipathTCP(false)
		if conn, err := d.Dial("tcp4", addr); err == nil {
			conn.Close()
			t.Error("connected to a listener with a full accept queue")
		}
		return nil
	})
	e := eventually(t, c, func(e *metrics.Emitter) bool {
		return value(t, e, "kscope_tcp_connections_failed_total", "errno", "none") == 1
	})
	report(t, "retransmit", e, map[string]float64{
		join("kscope_tcp_retransmits_total", nil):                                    1,
		join("kscope_tcp_connections_failed_total", []string{"errno", "none"}):       1,
		join("kscope_tcp_connections_opened_total", []string{"direction", "active"}): 1,
	})
}

// A dual-stack listener's IPv4 clients have IPv4-mapped addresses: they are
// shown as IPv4.
func TestDualStack(t *testing.T) {
	ns := newNetns(t)
	c := start(t, 10, func(c *Collector) { c.netns = ns.ino })
	ln := ns.listen(t, "tcp", "[::]:0")
	p := port(ln.Addr())
	accepted := make(chan net.Conn, 1)
	go func() {
		s, err := ln.Accept()
		if err == nil {
			accepted <- s
		}
		close(accepted)
	}()
	client, err := ns.dial(t, "tcp4", "127.0.0.1:"+p)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	defer server.Close()
	transfer(t, client, server, 1234)
	sv := endpoint("127.0.0.1", p, "127.0.0.1", "")
	e := eventually(t, c, func(e *metrics.Emitter) bool {
		return value(t, e, "kscope_tcp_endpoint_received_bytes_total", sv...) == 1234
	})
	report(t, "dual-stack", e, map[string]float64{join("kscope_tcp_endpoint_received_bytes_total", sv): 1234})
}

// Without a namespace filter, walks visit every namespace that has a
// process: all of them at start, then a few at a time, and forget those
// whose process left.
func TestWalkNamespaces(t *testing.T) {
	var nss []*netns
	for range 3 {
		ns := newNetns(t)
		ns.listen(t, "tcp4", "127.0.0.1:0")
		nss = append(nss, ns)
	}
	c := start(t, 10, nil)
	w := c.walker
	listeners := func(when string) {
		t.Helper()
		for _, ns := range nss {
			if got := w.last[uint64(ns.ino)][tcpListen]; got != 1 {
				t.Errorf("%s: %d listeners in namespace %d, want 1", when, got, ns.ino)
			}
		}
	}
	listeners("start")

	// With no budget, one namespace besides our own per walk.
	w.budget = 0
	for ino := range w.last {
		if ino != w.self {
			delete(w.last, ino)
		}
	}
	c.mu.Lock()
	c.walk(false)
	c.mu.Unlock()
	if n := len(w.last); n != 2 {
		t.Errorf("one walk without budget walked %d namespaces, want ours and one", n)
	}
	rounds := len(w.order)
	for range rounds {
		c.mu.Lock()
		c.walk(false)
		c.mu.Unlock()
	}
	listeners("round robin")

	nss[0].stop()
	for range rounds {
		c.mu.Lock()
		c.walk(false)
		c.mu.Unlock()
	}
	if _, ok := w.last[uint64(nss[0].ino)]; ok {
		t.Error("the namespace of a process that left is still walked")
	}
	nss = nss[1:]
	listeners("after one left")
}

// Once the endpoints map is half full, endpoints idle for long
// are removed from it; their series end.
func TestEndpointPrune(t *testing.T) {
	ns := newNetns(t)
	// The overflow entry and four: two connections, both sides.
	c := start(t, 10, func(c *Collector) { c.netns, c.endpointsMax = ns.ino, 5 })
	for range 2 {
		ln := ns.listen(t, "tcp4", "127.0.0.1:0")
		client, server := ns.pair(t, ln)
		transfer(t, client, server, 100)
	}
	e := eventually(t, c, func(e *metrics.Emitter) bool {
		v, _ := e.Sum("kscope_tcp_endpoint_received_bytes_total")
		return v == 200
	})
	if n := len(e.Find("kscope_tcp_endpoint_connections_total")); n != 4 {
		t.Fatalf("%d endpoint series, want 4", n)
	}
	c.mu.Lock()
	for _, s := range c.eps.seen {
		s.changed = s.changed.Add(-pruneIdle)
	}
	c.mu.Unlock()
	collect(t, c)
	if n := len(collect(t, c).Find("kscope_tcp_endpoint_connections_total")); n != 0 {
		t.Errorf("%d endpoint series after pruning, want 0", n)
	}
	var (
		k    tcpEndpointKey
		v    tcpEndpointValue
		keys int
	)
	for it := c.endpoints.Iterate(); it.Next(&k, &v); {
		keys++
		if k != (tcpEndpointKey{}) {
			t.Errorf("endpoint %q left", endpointLabels(&k))
		}
	}
	if keys != 1 {
		t.Errorf("%d entries left, want the overflow one", keys)
	}
}

// A Multipath TCP connection is counted by its TCP subflows: here one on
// each side, with the MPTCP sockets above them left out.
func TestMPTCPSubflows(t *testing.T) {
	ns := newNetns(t)
	c := start(t, 10, func(c *Collector) { c.netns = ns.ino })
	var ln net.Listener
	ns.do(t, func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		ln, err = lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
		return err
	})
	defer ln.Close()
	p := port(ln.Addr())
	accepted := make(chan net.Conn, 1)
	go func() {
		s, err := ln.Accept()
		if err == nil {
			accepted <- s
		}
		close(accepted)
	}()
	var client net.Conn
	ns.do(t, func() (err error) {
		var d net.Dialer
		d.SetMultipathTCP(true)
		client, err = d.Dial("tcp4", ln.Addr().String())
		return err
	})
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	defer server.Close()
	if ok, err := client.(*net.TCPConn).MultipathTCP(); err != nil || !ok {
		testutil.Skip(t, "Multipath TCP (net.mptcp.enabled)", err)
	}
	transfer(t, client, server, 4321)
	cl, sv := endpoint("127.0.0.1", "", "127.0.0.1", p), endpoint("127.0.0.1", p, "127.0.0.1", "")
	want := map[string]float64{
		join("kscope_tcp_connections_opened_total", []string{"direction", "active"}):  1,
		join("kscope_tcp_connections_opened_total", []string{"direction", "passive"}): 1,
		join("kscope_tcp_endpoint_sent_bytes_total", cl):                              4321,
		join("kscope_tcp_endpoint_received_bytes_total", sv):                          4321,
	}
	e := eventually(t, c, func(e *metrics.Emitter) bool {
		return value(t, e, "kscope_tcp_endpoint_received_bytes_total", sv...) == 4321
	})
	report(t, "mptcp", e, want)
}

// Without the socket iterator, bytes are counted when connections close and
// there is no state gauge.
func TestWithoutIterator(t *testing.T) {
	ns := newNetns(t)
	c := start(t, 10, func(c *Collector) { c.netns, c.noIter = ns.ino, true })
	ln := ns.listen(t, "tcp4", "127.0.0.1:0")
	client, server := ns.pair(t, ln)
	transfer(t, client, server, 2000)
	e := collect(t, c)
	if v := value(t, e, "kscope_tcp_sent_bytes_total"); v != 0 {
		t.Errorf("%v bytes sent counted while open", v)
	}
	if n := len(e.Find("kscope_tcp_connections")); n != 0 {
		t.Errorf("%d state series without the iterator", n)
	}
	client.Close()
	server.Read(make([]byte, 1))
	server.Close()
	e = eventually(t, c, func(e *metrics.Emitter) bool {
		return value(t, e, "kscope_tcp_connections_closed_total") == 2
	})
	report(t, "closed", e, map[string]float64{
		join("kscope_tcp_sent_bytes_total", nil):     2000,
		join("kscope_tcp_received_bytes_total", nil): 2000,
	})
}

// A namespace kept only by a name (ip netns add: a bind mount of its file)
// has no process, and is walked all the same.
func TestWalkNamedNamespace(t *testing.T) {
	ns := newNetns(t)
	ns.listen(t, "tcp4", "127.0.0.1:0")
	named := t.TempDir()
	name := named + "/test"
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(ns.f.Name(), name, "", unix.MS_BIND, ""); err != nil {
		testutil.Skip(t, "bind mounts", err)
	}
	t.Cleanup(func() { unix.Unmount(name, unix.MNT_DETACH) })
	c := start(t, 10, func(c *Collector) { c.netns = ns.ino })
	ns.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.walker
	w.named, w.scanned = named, time.Time{}
	if err := c.walk(true); err != nil {
		t.Fatal(err)
	}
	if got := w.paths[uint64(ns.ino)]; got != name {
		t.Errorf("namespace found at %q, want %q", got, name)
	}
	if got := w.last[uint64(ns.ino)][tcpListen]; got != 1 {
		t.Errorf("%d listeners, want 1", got)
	}
}

// Endpoints that are done are removed once the map fills: rounds of new
// endpoints, each more than the free room the previous rounds would leave,
// with a collection between rounds, drop nothing, and every byte reaches an
// endpoint series.
func TestEndpointChurn(t *testing.T) {
	ns := newNetns(t)
	// The overflow entry and eight: two rounds of four endpoints.
	c := start(t, 1000, func(c *Collector) { c.netns, c.endpointsMax = ns.ino, 9 })
	const rounds = 6
	var received float64
	for i := range rounds {
		for range 2 {
			ln := ns.listen(t, "tcp4", "127.0.0.1:0")
			client, server := ns.pair(t, ln)
			transfer(t, client, server, 100)
			client.Close()
			server.Read(make([]byte, 1))
			server.Close()
		}
		want := float64(200 * (i + 1))
		e := eventually(t, c, func(e *metrics.Emitter) bool {
			return value(t, e, "kscope_tcp_received_bytes_total") == want
		})
		if v := value(t, e, "kscope_self_map_drops_total", "collector", "tcp", "map", "endpoints"); v != 0 {
			t.Fatalf("round %d: %v endpoint updates dropped", i, v)
		}
		received = value(t, e, "kscope_tcp_received_bytes_total")
	}
	if received != 200*rounds {
		t.Errorf("received %v bytes, want %d", received, 200*rounds)
	}
	var (
		k    tcpEndpointKey
		v    tcpEndpointValue
		keys int
	)
	for it := c.endpoints.Iterate(); it.Next(&k, &v); {
		keys++
	}
	if keys > 9 {
		t.Errorf("%d entries in a 9-entry map", keys)
	}
}

func TestHostMapSizes(t *testing.T) {
	for _, tt := range []struct {
		mem              uint64
		conns, endpoints uint32
	}{
		{0, minConnsMax, minEndpointsMax},
		{512 << 20, minConnsMax, minEndpointsMax},
		{8 << 30, 524288, 65536},
		{1 << 50, maxConnsMax, maxEndpointsMax},
	} {
		c, e := hostMapSizes(tt.mem)
		if c != tt.conns || e != tt.endpoints {
			t.Errorf("hostMapSizes(%d) = %d, %d; want %d, %d", tt.mem, c, e, tt.conns, tt.endpoints)
		}
	}
}
