package flows

import (
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
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// The client helper: the test binary run again, entering the network
// namespace named by the variable, that sends K bytes to the server (the
// last argument) over TCP or UDP and reads K bytes back, then prints its
// local address and closes.
const clientEnv = "KSCOPE_FLOWS_CLIENT"

func TestMain(m *testing.M) {
	if v := os.Getenv(clientEnv); v != "" {
		os.Exit(client(v, os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

// client runs "NS,PROTO,K,CHUNK": PROTO tcp or udp; over UDP the K bytes
// go as datagrams of CHUNK bytes, each echoed.
func client(spec, server string) int {
	parts := strings.Split(spec, ",")
	k, _ := strconv.Atoi(parts[2])
	chunk, _ := strconv.Atoi(parts[3])
	runtime.LockOSThread() // sockets are made on this thread, in the namespace
	f, err := os.Open("/run/netns/" + parts[0])
	if err == nil {
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "entering the namespace:", err)
		return 2
	}
	// Plain TCP, not MPTCP: the segments are the ones on the wire.
	var d net.Dialer
	d.SetMultipathTCP(false)
	conn, err := d.Dial(parts[1], server)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	buf := make([]byte, max(k, chunk))
	if parts[1] == "tcp" {
		if _, err := conn.Write(buf[:k]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if _, err := io.ReadFull(conn, buf[:k]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	} else {
		for sent := 0; sent < k; sent += chunk {
			if _, err := conn.Write(buf[:chunk]); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if n, err := conn.Read(buf); err != nil || n != chunk {
				fmt.Fprintln(os.Stderr, "echo:", n, err)
				return 2
			}
		}
	}
	// The retransmits the kernel counted, for the test to compare.
	var retrans uint32
	if tc, ok := conn.(*net.TCPConn); ok {
		raw, _ := tc.SyscallConn()
		raw.Control(func(fd uintptr) {
			if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				retrans = info.Total_retrans
			}
		})
	}
	fmt.Println(conn.LocalAddr().String(), retrans)
	conn.Close()
	return 0
}

// serve runs one exchange's server side in namespace ns: it reads k
// bytes and writes them back (TCP), or echoes k/chunk datagrams (UDP),
// then closes. It returns the server's address once it listens, and a
// channel for the end of the exchange.
func serve(t *testing.T, ns, proto, addr string, k, chunk int) (string, <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	if proto == "tcp" {
		var ln net.Listener
		if err := testutil.In(ns, func() (err error) {
			var lc net.ListenConfig
			lc.SetMultipathTCP(false)
			ln, err = lc.Listen(context.Background(), "tcp", addr)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer ln.Close()
			c, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			buf := make([]byte, k)
			if _, err := io.ReadFull(c, buf); err != nil {
				done <- err
				return
			}
			_, err = c.Write(buf)
			if err == nil {
				// Wait for the client's FIN: the client closes first.
				_, err = c.Read(buf[:1])
				if err == io.EOF {
					err = nil
				}
			}
			done <- err
		}()
		return ln.Addr().String(), done
	}
	var pc net.PacketConn
	if err := testutil.In(ns, func() (err error) {
		pc, err = net.ListenPacket("udp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer pc.Close()
		buf := make([]byte, chunk+1)
		for got := 0; got < k; got += chunk {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				done <- err
				return
			}
			if _, err := pc.WriteTo(buf[:n], from); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return pc.LocalAddr().String(), done
}

func start(t *testing.T) (*Collector, *testutil.Capture) {
	t.Helper()
	c, err := NewWithIdle(collector.Config{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sink := testutil.NewCapture()
	if err := c.Start(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, sink
}

// waitFlow waits for the ended flow with this local and remote address.
func waitFlow(t *testing.T, sink *testutil.Capture, local, remote string) *event.Dynamic {
	t.Helper()
	ev, ok := sink.WaitFor(30*time.Second, func(ev event.Event) bool {
		d, ok := ev.(*event.Dynamic)
		if !ok {
			return false
		}
		v := d.Values
		return net.JoinHostPort(v[fLocalAddr].Str, strconv.FormatUint(v[fLocalPort].Num, 10)) == local &&
			net.JoinHostPort(v[fRemoteAddr].Str, strconv.FormatUint(v[fRemotePort].Num, 10)) == remote
	})
	if !ok {
		t.Fatalf("no flow %s -> %s among %d events", local, remote, len(sink.Events()))
	}
	return ev.(*event.Dynamic)
}

// transfer runs one exchange of k bytes each way between a client
// process in p.A and a server in the test's process in p.B, and checks
// both sides' flows.
// It returns the client's flow event and the retransmits its socket
// counted.
func transfer(t *testing.T, sink *testutil.Capture, p *testutil.NetPair, proto, aAddr, bAddr string, k, chunk int) (*event.Dynamic, uint64) {
	t.Helper()
	server, done := serve(t, p.B, proto, net.JoinHostPort(bAddr, "0"), k, chunk)
	return exchange(t, sink, p, proto, aAddr, server, done, k, chunk)
}

// exchange is transfer with a server already serving.
func exchange(t *testing.T, sink *testutil.Capture, p *testutil.NetPair, proto, aAddr, server string, done <-chan error, k, chunk int) (*event.Dynamic, uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", server)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%d,%d", clientEnv, p.A, proto, k, chunk))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	var clientAddr string
	var retrans uint64
	if _, err := fmt.Sscan(string(out), &clientAddr, &retrans); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if host, _, _ := net.SplitHostPort(clientAddr); host != aAddr {
		t.Fatalf("client address %s, want on %s", clientAddr, aAddr)
	}
	comm := filepath.Base(os.Args[0])
	comm = comm[:min(15, len(comm))]

	var client *event.Dynamic
	for _, side := range []struct {
		name, local, remote, dir string
		pid                      int
	}{
		{"client", clientAddr, server, "out", cmd.Process.Pid},
		// The server's flow starts with the SYN its listener receives.
		{"server", server, clientAddr, "in", os.Getpid()},
	} {
		ev := waitFlow(t, sink, side.local, side.remote)
		v := ev.Values
		check := func(field string, got, want any) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s %s flow: %s = %v, want %v", proto, side.name, field, got, want)
			}
		}
		check("proto", v[fProto].Str, proto)
		check("direction", v[fDirection].Str, side.dir)
		check("bytes_sent", v[fBytesSent].Num, k)
		check("bytes_received", v[fBytesReceived].Num, k)
		check("pid", ev.PID, side.pid)
		check("comm", ev.Comm, comm)
		check("type", ev.Type, KindName)
		if ev.CgroupID == 0 {
			t.Errorf("%s %s flow: no cgroup", proto, side.name)
		}
		if proto == "udp" {
			check("packets_sent", v[fPacketsSent].Num, k/chunk)
			check("packets_received", v[fPacketsReceived].Num, k/chunk)
			check("end", v[fEnd].Str, "released")
			check("state", v[fState].Str, "")
		} else {
			check("end", v[fEnd].Str, "closed")
			check("state", v[fState].Str, "CLOSE")
			if v[fSRTT].Num == 0 {
				t.Errorf("tcp %s flow: no smoothed RTT", side.name)
			}
			// The handshake, the data and the close are a few packets each way at least.
			if v[fPacketsSent].Num < 2 || v[fPacketsReceived].Num < 2 {
				t.Errorf("tcp %s flow: packets %d sent, %d received", side.name, v[fPacketsSent].Num, v[fPacketsReceived].Num)
			}
		}
		if v[fAge].Num == 0 || ev.Time.IsZero() {
			t.Errorf("%s %s flow: age %d, time %v", proto, side.name, v[fAge].Num, ev.Time)
		}
		if side.name == "client" {
			if proto == "tcp" && !retransAgree(v[fRetransmits].Num, retrans) {
				t.Errorf("tcp client flow: retransmits %d, the socket said %d before its close", v[fRetransmits].Num, retrans)
			}
			client = ev
		}
	}
	return client, retrans
}

// TestTransferNetns: exactly K bytes each way between two namespaces over
// TCP and UDP, IPv4 and IPv6, give one ended flow on each side with K
// bytes each way, the right process, direction and end, and for UDP the
// exact packets; the metrics count them under the command.
func TestTransferNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	const aAddr6, bAddr6 = "fd00:201::1", "fd00:201::2"
	testutil.Run(t, "ip", "-n", p.A, "addr", "add", aAddr6+"/64", "dev", p.AName, "nodad")
	testutil.Run(t, "ip", "-n", p.B, "addr", "add", bAddr6+"/64", "dev", p.BName, "nodad")
	c, sink := start(t)

	const k, chunk = 300000, 1000
	transfer(t, sink, p, "tcp", p.AAddr, p.BAddr, k, chunk)
	transfer(t, sink, p, "udp", p.AAddr, p.BAddr, 20000, chunk)
	transfer(t, sink, p, "tcp", aAddr6, bAddr6, k, chunk)
	transfer(t, sink, p, "udp", aAddr6, bAddr6, 20000, chunk)

	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatal(err)
	}
	comm := filepath.Base(os.Args[0])
	comm = comm[:min(15, len(comm))]
	for _, s := range []struct {
		proto, remote string
		bytes         float64
	}{{"tcp", p.BAddr, k}, {"udp", p.BAddr, 20000}, {"tcp", aAddr6, k}, {"udp", aAddr6, 20000}} {
		for _, dir := range []string{"sent", "received"} {
			if got, _ := e.Sum("kscope_net_flow_bytes_total", "comm", comm, "proto", s.proto, "remote", s.remote, "direction", dir); got != s.bytes {
				t.Errorf("kscope_net_flow_bytes_total{proto=%s,remote=%s,direction=%s} = %v, want %v", s.proto, s.remote, dir, got, s.bytes)
			}
		}
	}
	if got, _ := e.Sum("kscope_net_flow_packets_total", "comm", comm, "proto", "udp", "remote", p.BAddr, "direction", "sent"); got != 20 {
		t.Errorf("kscope_net_flow_packets_total{udp,%s,sent} = %v, want 20", p.BAddr, got)
	}
	if st := c.Stats(); st.Lost != 0 {
		t.Errorf("stats %+v: lost", st)
	}
}

// TestRetransmitNetns: an nftables rule drops the first data segment the
// server's namespace receives; the client's flow counts the
// retransmissions its socket counted (at least one), and its bytes are
// still exactly K each way: retransmitted data is not counted twice.
func TestRetransmitNetns(t *testing.T) {
	testutil.RequireBPF(t)
	testutil.Tool(t, "nft", "dropping one TCP segment")
	p := testutil.NewNetPair(t)
	testutil.Run(t, "ip", "netns", "exec", p.B, "nft", "add table inet kscope_flows")
	testutil.Run(t, "ip", "netns", "exec", p.B, "nft", "add chain inet kscope_flows in { type filter hook input priority 0 ; }")
	testutil.Run(t, "ip", "netns", "exec", p.B, "nft", "add rule inet kscope_flows in meta l4proto tcp ip length > 500 numgen inc mod 1000000000 == 0 counter drop")
	_, sink := start(t)
	const k = 100000
	ev, retrans := transfer(t, sink, p, "tcp", p.AAddr, p.BAddr, k, 1000)
	if retrans == 0 {
		t.Errorf("the client's socket retransmitted nothing: the rule dropped nothing?\n%s",
			testutil.Run(t, "ip", "netns", "exec", p.B, "nft", "list ruleset"))
	}
	if got := ev.Values[fRetransmits].Num; !retransAgree(got, retrans) {
		t.Errorf("retransmits %d, the socket said %d before its close", got, retrans)
	}
}

// retransAgree: the flow's retransmits, counted until the socket closed,
// are those the client's socket reported before close(), plus at most a
// few retransmissions of its FIN, which is sent after (on a loaded host
// its acknowledgement can take longer than the retransmission timeout).
func retransAgree(flow, socket uint64) bool {
	return flow >= socket && flow <= socket+3
}

// TestListenerBeforeStartNetns: a server that listened before the
// collector started still owns the connections it accepts after: the
// collector notes the owners of existing sockets when it starts.
func TestListenerBeforeStartNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	server, done := serve(t, p.B, "tcp", net.JoinHostPort(p.BAddr, "0"), 5000, 1000)
	_, sink := start(t)
	exchange(t, sink, p, "tcp", p.AAddr, server, done, 5000, 1000)
}

// TestLoopbackNetns: both ends in one namespace over its loopback, where
// TCP sends 64 KiB GSO packets that are never split: each side's flow
// still has exactly K bytes each way, over IPv4 and IPv6, TCP and UDP.
func TestLoopbackNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	_, sink := start(t)
	for _, addr := range []string{"127.0.0.1", "::1"} {
		server, done := serve(t, p.A, "tcp", net.JoinHostPort(addr, "0"), 1<<20, 1000)
		exchange(t, sink, p, "tcp", addr, server, done, 1<<20, 1000)
		server, done = serve(t, p.A, "udp", net.JoinHostPort(addr, "0"), 8000, 1000)
		exchange(t, sink, p, "udp", addr, server, done, 8000, 1000)
	}
}
