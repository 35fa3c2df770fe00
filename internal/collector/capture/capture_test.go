package capture

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/kscope/kscope/internal/testutil"
)

// TestPIDCommNetns: a UDP socket made before the capture started (its
// process noted from /proc at start) receives 10 datagrams over a veth;
// a capture for its pid delivers the 10, each with the test's pid and
// comm, on ingress, in order; a capture beside it for another command
// delivers none and counts the 10 as filtered out, in the kernel.
func TestPIDCommNetns(t *testing.T) {
	testutil.RequireBPF(t)
	for _, attach := range []string{"tcx", "clsact"} {
		t.Run(attach, func(t *testing.T) { testPIDComm(t, attach == "clsact") })
	}
}

func testPIDComm(t *testing.T, clsact bool) {
	p := testutil.NewNetPair(t)
	var srv *net.UDPConn
	if err := testutil.In(p.B, func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(p.BAddr)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	self := strings.TrimSpace(string(comm))
	start := func(o Options) *Capture {
		t.Helper()
		var c *Capture
		if err := testutil.In(p.B, func() (err error) {
			o.Interfaces = []string{p.BName}
			o.Clsact = clsact
			c, err = Start(o)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if want := map[bool]string{false: "tcx", true: "clsact"}[clsact]; c.Attach() != want {
			t.Fatalf("attached with %s, want %s", c.Attach(), want)
		}
		return c
	}
	mine := start(Options{Filter: "udp", PID: uint32(os.Getpid())})
	other := start(Options{Filter: "udp", Comm: "no-such-comm"})
	if err := testutil.In(p.A, func() error {
		c, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
		if err != nil {
			return err
		}
		defer c.Close()
		for i := range 10 {
			if _, err := c.Write([]byte{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	for range 10 {
		srv.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, _, err := srv.ReadFromUDP(buf); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := 0
	err = mine.Run(ctx, func(pk *Packet) error {
		if pk.PID != uint32(os.Getpid()) || pk.Comm != self || pk.Egress || pk.Iface != 0 || len(pk.Data) != pk.Len || pk.Len != 14+20+8+1 {
			t.Errorf("packet %d: pid %d comm %q egress %v iface %d len %d/%d", n, pk.PID, pk.Comm, pk.Egress, pk.Iface, len(pk.Data), pk.Len)
		} else if got := pk.Data[len(pk.Data)-1]; got != byte(n) {
			t.Errorf("packet %d carries datagram %d", n, got)
		}
		n++
		if n == 10 {
			return ErrStop
		}
		return nil
	})
	if err != nil || n != 10 {
		t.Fatalf("Run: %v after %d packets", err, n)
	}
	for _, c := range []struct {
		cap  *Capture
		want Stats
	}{{mine, Stats{Matched: 10, Captured: 10}}, {other, Stats{Matched: 10, Filtered: 10}}} {
		st, err := c.cap.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st != c.want {
			t.Errorf("stats %+v, want %+v", st, c.want)
		}
	}
	// The other capture has nothing to deliver.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := other.Run(ctx, func(*Packet) error { return errors.New("a packet of no-such-comm") }); err != nil {
		t.Error(err)
	}
	// Closed, the captures leave nothing on the interface: no tc filter,
	// and no clsact qdisc, which the first added.
	mine.Close()
	other.Close()
	if err := testutil.In(p.B, func() error {
		l, err := netlink.LinkByName(p.BName)
		if err != nil {
			return err
		}
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			if fs, err := netlink.FilterList(l, parent); err == nil && len(fs) > 0 {
				t.Errorf("tc filters left: %v", fs)
			}
		}
		qs, err := netlink.QdiscList(l)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q.Type() == "clsact" {
				t.Errorf("clsact qdisc left: %v", q)
			}
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestBadInterface: an interface without an Ethernet header or that does
// not exist is refused by name.
func TestBadInterface(t *testing.T) {
	testutil.RequireBPF(t)
	_, err := Start(Options{Interfaces: []string{"no-such-if0"}})
	if err == nil || !strings.Contains(err.Error(), "interface no-such-if0") {
		t.Errorf("Start: %v", err)
	}
}

// TestIPv6TCPNetns: over IPv6, a TCP exchange whose server the test
// starts after the capture: the SYN (its listener found by 5-tuple), the
// SYN-ACK (a request socket's, found the same way), and the data each way
// are the test's, and --pid filters none of the connection's packets out.
func TestIPv6TCPNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	const aAddr, bAddr = "fd00:201::1", "fd00:201::2"
	testutil.Run(t, "ip", "-n", p.A, "addr", "add", aAddr+"/64", "dev", p.AName, "nodad")
	testutil.Run(t, "ip", "-n", p.B, "addr", "add", bAddr+"/64", "dev", p.BName, "nodad")
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	self := strings.TrimSpace(string(comm))
	var c *Capture
	if err := testutil.In(p.B, func() (err error) {
		c, err = Start(Options{Interfaces: []string{p.BName}, Filter: "ip6 and tcp", PID: uint32(os.Getpid())})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ln net.Listener
	if err := testutil.In(p.B, func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err = lc.Listen(context.Background(), "tcp6", net.JoinHostPort(bAddr, "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		buf := make([]byte, 5)
		if _, err = conn.Read(buf); err == nil {
			_, err = conn.Write([]byte("olleh"))
		}
		// The client closes first, so no packet here is a timewait
		// socket's (which has no process).
		if err == nil {
			_, err = conn.Read(buf)
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		served <- err
	}()
	if err := testutil.In(p.A, func() error {
		var d net.Dialer
		d.SetMultipathTCP(false)
		conn, err := d.Dial("tcp6", ln.Addr().String())
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("hello")); err != nil {
			return err
		}
		buf := make([]byte, 5)
		_, err = conn.Read(buf)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = c.Run(ctx, func(pk *Packet) error {
		if pk.PID != uint32(os.Getpid()) || pk.Comm != self {
			t.Errorf("packet of pid %d comm %q", pk.PID, pk.Comm)
		}
		// Ethernet, IPv6 (next header TCP), TCP with its data offset.
		if len(pk.Data) < 14+40+20 || pk.Data[14+6] != 6 {
			t.Fatalf("not an IPv6 TCP packet: %x", pk.Data)
		}
		tcp := pk.Data[14+40:]
		flags := tcp[13]
		payload := string(tcp[int(tcp[12]>>4)*4:])
		switch {
		case flags&0x12 == 0x02 && !pk.Egress:
			seen["syn in"] = true
		case flags&0x12 == 0x12 && pk.Egress:
			seen["syn-ack out"] = true
		case payload == "hello" && !pk.Egress:
			seen["hello in"] = true
		case payload == "olleh" && pk.Egress:
			seen["olleh out"] = true
		}
		if len(seen) == 4 {
			return ErrStop
		}
		return nil
	})
	if err != nil || len(seen) != 4 {
		t.Fatalf("Run: %v; seen %v", err, seen)
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Filtered != 0 || st.Dropped != 0 || st.Matched < 4 {
		t.Errorf("stats %+v: want no packet filtered out or dropped", st)
	}
}

// TestAnyNetns: no interface named (or any) is every interface that is
// up, loopback included; one that is down is left out.
func TestAnyNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	testutil.Run(t, "ip", "-n", p.B, "link", "add", "ksdown0", "type", "veth", "peer", "name", "ksdown1")
	var got []Interface
	if err := testutil.In(p.B, func() error {
		c, err := Start(Options{Interfaces: []string{"any"}})
		if err != nil {
			return err
		}
		got = c.Interfaces()
		return c.Close()
	}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ifc := range got {
		names = append(names, ifc.Name)
		if ifc.Loopback != (ifc.Name == "lo") {
			t.Errorf("%s: loopback %v", ifc.Name, ifc.Loopback)
		}
	}
	if strings.Join(names, ",") != "lo,"+p.BName {
		t.Errorf("any is %v, want lo and %s", names, p.BName)
	}
}

// TestDropsNetns: with a one-page buffer nobody reads, 200 datagrams of
// 1000 bytes overflow it: the kernel counts each packet either captured
// or dropped, and Run then delivers exactly the captured ones.
func TestDropsNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	var c *Capture
	if err := testutil.In(p.B, func() (err error) {
		c, err = Start(Options{Interfaces: []string{p.BName}, Filter: "udp port 9", PerCPUBuffer: 4096})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := testutil.In(p.A, func() error {
		// Unconnected: B's port unreachable answers are not errors here.
		conn, err := net.ListenPacket("udp4", net.JoinHostPort(p.AAddr, "0"))
		if err != nil {
			return err
		}
		defer conn.Close()
		to := &net.UDPAddr{IP: net.ParseIP(p.BAddr), Port: 9}
		buf := make([]byte, 1000)
		for range 200 {
			if _, err := conn.WriteTo(buf, to); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The datagrams reach B's veth in the sender's own softirq, but wait
	// for the counters rather than trust that.
	var st Stats
	for deadline := time.Now().Add(time.Minute); ; {
		var err error
		if st, err = c.Stats(); err != nil {
			t.Fatal(err)
		}
		if st.Matched == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.Matched != 200 || st.Captured+st.Dropped != 200 || st.Dropped == 0 {
		t.Fatalf("stats %+v: want 200 matched, each captured or dropped, some dropped", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := uint64(0)
	if err := c.Run(ctx, func(*Packet) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != st.Captured {
		t.Errorf("Run delivered %d packets, the kernel captured %d", n, st.Captured)
	}
	t.Logf("%+v", st)
}

// TestLargePacketsNetns: GSO packets on loopback (up to 64 KiB) are cut
// at MaxCaplen, their length on the wire kept, and the buffer reads on.
func TestLargePacketsNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	var c *Capture
	if err := testutil.In(p.B, func() (err error) {
		c, err = Start(Options{Interfaces: []string{"lo"}, Filter: "tcp", PerCPUBuffer: 16 << 20})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ln net.Listener
	if err := testutil.In(p.B, func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err = lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const k = 1 << 20 // in a buffer that holds it all
	go func() {
		if conn, err := ln.Accept(); err == nil {
			io.Copy(io.Discard, conn)
			conn.Close()
		}
	}()
	if err := testutil.In(p.B, func() error {
		var d net.Dialer
		d.SetMultipathTCP(false)
		conn, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Write(make([]byte, k))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The client's payload, by sequence number from its SYN's: a segment
	// sent again (a loss probe on a loaded host) covers the same range.
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	var isn uint32
	var synSeen bool
	var got []seqRange
	cut := 0
	err := c.Run(ctx, func(pk *Packet) error {
		if want := min(pk.Len, MaxCaplen); len(pk.Data) != want {
			t.Errorf("a packet of %d bytes: %d captured, want %d", pk.Len, len(pk.Data), want)
		}
		if pk.Len > MaxCaplen {
			cut++
		}
		ihl := int(pk.Data[14]&0xf) * 4
		tcp := pk.Data[14+ihl:]
		if uint16(tcp[2])<<8|uint16(tcp[3]) != port {
			return nil // the server's side: acknowledgements
		}
		seq := uint32(tcp[4])<<24 | uint32(tcp[5])<<16 | uint32(tcp[6])<<8 | uint32(tcp[7])
		if tcp[13]&0x02 != 0 {
			isn, synSeen = seq, true
			return nil
		}
		// TCP payload: the IPv4 total length less the IP and TCP headers.
		total := int(pk.Data[16])<<8 | int(pk.Data[17])
		if n := total - ihl - int(tcp[12]>>4)*4; n > 0 && synSeen {
			from := int(seq - isn - 1)
			got = append(got, seqRange{from, from + n})
		}
		if covered(got) >= k {
			return ErrStop
		}
		return nil
	})
	if n := covered(got); err != nil || n != k {
		t.Fatalf("Run: %v after %d of %d bytes (SYN seen: %v)", err, n, k, synSeen)
	}
	t.Logf("%d packets longer than %d", cut, MaxCaplen)
}

// seqRange is a segment's payload, [from, to) from the first byte.
type seqRange struct{ from, to int }

// covered is how many bytes from the first the ranges cover without a
// gap.
func covered(rs []seqRange) int {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b seqRange) int { return a.from - b.from })
	end := 0
	for _, r := range rs {
		if r.from > end {
			break
		}
		end = max(end, r.to)
	}
	return end
}
