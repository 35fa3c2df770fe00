package dns

import (
	"bufio"
	"context"
	"fmt"
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

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// The client helper: the test binary run again in the test's cgroup,
// entering the network namespace named by the variable and asking the
// server (the first argument) the queries of clientQueries, one line of
// results each.
const clientEnv = "KSCOPE_DNS_CLIENT_NETNS"

var clientQueries = []struct {
	name  string
	qtype uint16
	tcp   bool
}{
	{"www.example.test.", mdns.TypeA, false},
	{"www.example.test.", mdns.TypeAAAA, false},
	{"missing.example.test.", mdns.TypeA, false},
	{"slow.example.test.", mdns.TypeA, false}, // the server never answers
	{"www.example.test.", mdns.TypeA, true},
}

func TestMain(m *testing.M) {
	if ns := os.Getenv(clientEnv); ns != "" {
		os.Exit(client(ns, os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

func client(ns, server string) int {
	runtime.LockOSThread() // sockets are made on this thread, in ns
	f, err := os.Open("/run/netns/" + ns)
	if err == nil {
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "entering the namespace:", err)
		return 2
	}
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println(strings.TrimSpace(string(stat)))
	for i, q := range clientQueries {
		msg := new(mdns.Msg)
		msg.SetQuestion(q.name, q.qtype)
		msg.Id = uint16(1000 + i)
		network := "udp4"
		if q.tcp {
			network = "tcp4"
		}
		// Plain TCP, not MPTCP: the segments are the ones on the wire.
		var d net.Dialer
		d.SetMultipathTCP(false)
		conn, err := d.Dial(network, server)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		c := &mdns.Conn{Conn: conn}
		start := time.Now()
		if err := c.WriteMsg(msg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = c.ReadMsg()
		rtt := time.Since(start)
		answered := err == nil
		_, port, _ := net.SplitHostPort(conn.LocalAddr().String())
		fmt.Printf("%d %s %d %t\n", i, port, rtt.Nanoseconds(), answered)
		conn.Close()
	}
	return 0
}

// serve starts a DNS server on addr in namespace ns: www.example.test has
// A 192.0.2.1 and AAAA 2001:db8::1, slow.example.test is never answered,
// any other name is NXDOMAIN.
func serve(t *testing.T, ns, addr string) {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	if err := testutil.In(ns, func() (err error) {
		if pc, err = net.ListenPacket("udp4", addr); err != nil {
			return err
		}
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err = lc.Listen(context.Background(), "tcp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		q := r.Question[0]
		if q.Name == "slow.example.test." {
			return
		}
		m := new(mdns.Msg)
		m.SetReply(r)
		switch {
		case q.Name == "www.example.test." && q.Qtype == mdns.TypeA:
			rr, _ := mdns.NewRR("www.example.test. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		case q.Name == "www.example.test." && q.Qtype == mdns.TypeAAAA:
			rr, _ := mdns.NewRR("www.example.test. 60 IN AAAA 2001:db8::1")
			m.Answer = append(m.Answer, rr)
		default:
			m.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
}

// TestQueriesNetns: a client process in a cgroup of the test's own asks a
// server in another namespace for an A, an AAAA, a missing name and a name
// the server ignores over UDP, and an A over TCP: five events with the
// exact question, rcode, answers and transport, the client's process and
// port, a latency within the client's own measure, and a timeout; the
// metrics count each.
func TestQueriesNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	server := net.JoinHostPort(p.BAddr, "53")
	serve(t, p.B, server)

	root, err := bpfx.Cgroup2Root()
	if err != nil || root == "" {
		testutil.Skip(t, "cgroup v2", err)
	}
	cg := filepath.Join(root, "kscope-dns-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(cg) })

	c, err := NewWithTimeout(collector.Config{}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Cgroup = cg
	sink := testutil.NewCapture()
	if err := c.Start(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	cgf, err := os.Open(cg)
	if err != nil {
		t.Fatal(err)
	}
	defer cgf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$", server)
	cmd.Env = append(os.Environ(), clientEnv+"="+p.A)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cgf.Fd())}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	// The first line is the client's /proc/self/stat, for its start time.
	stat, lines, _ := strings.Cut(string(out), "\n")
	type result struct {
		port     uint64
		rtt      uint64
		answered bool
	}
	var res []result
	sc := bufio.NewScanner(strings.NewReader(lines))
	for sc.Scan() {
		var i int
		var r result
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %d %t", &i, &r.port, &r.rtt, &r.answered); err != nil {
			t.Fatalf("client line %q: %v", sc.Text(), err)
		}
		res = append(res, r)
	}
	if len(res) != len(clientQueries) || res[3].answered || !res[0].answered || !res[4].answered {
		t.Fatalf("client results %+v", res)
	}

	find := func(id uint64) *event.Dynamic {
		ev, ok := sink.WaitFor(10*time.Second, func(ev event.Event) bool {
			d, ok := ev.(*event.Dynamic)
			return ok && d.Values[fID].Num == id
		})
		if !ok {
			t.Fatalf("no event for query id %d; events: %d", id, len(sink.Events()))
		}
		return ev.(*event.Dynamic)
	}
	want := []struct {
		rcode   string
		answers []string
		timeout bool
	}{
		{"NOERROR", []string{"192.0.2.1"}, false},
		{"NOERROR", []string{"2001:db8::1"}, false},
		{"NXDOMAIN", nil, false},
		{"", nil, true},
		{"NOERROR", []string{"192.0.2.1"}, false},
	}
	for i, w := range want {
		ev := find(uint64(1000 + i))
		v := ev.Values
		q := clientQueries[i]
		check := func(field string, got, want any) {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("query %d (%s %s): %s = %v, want %v", i, q.name, TypeName(q.qtype), field, got, want)
			}
		}
		check("qname", v[fQName].Str, q.name)
		check("qtype", v[fQType].Str, TypeName(q.qtype))
		check("rcode", v[fRCode].Str, w.rcode)
		check("answers", v[fAnswers].Strs, w.answers)
		check("timeout", v[fTimeout].Bool, w.timeout)
		check("server", v[fServer].Str, p.BAddr)
		check("server_port", v[fServerPort].Num, 53)
		check("client_port", v[fClientPort].Num, res[i].port)
		check("transport", v[fTransport].Str, map[bool]string{false: "udp", true: "tcp"}[q.tcp])
		check("pid", ev.PID, cmd.Process.Pid)
		check("ppid", ev.PPID, os.Getpid())
		testutil.CheckStartNSStat(t, cmd.Process.Pid, stat, ev.StartNS)
		testutil.CheckStartNS(t, os.Getpid(), ev.ParentStartNS)
		check("comm", ev.Comm, filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))])
		check("type", ev.Type, "dns")
		if w.timeout {
			check("latency_ns", v[fLatency].Num, 0)
		} else if lat := v[fLatency].Num; lat == 0 || lat > res[i].rtt {
			t.Errorf("query %d: latency %d ns, want within the client's %d ns", i, lat, res[i].rtt)
		}
	}

	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		qtype, rcode string
		n            float64
	}{{"A", "NOERROR", 2}, {"AAAA", "NOERROR", 1}, {"A", "NXDOMAIN", 1}, {"A", "timeout", 1}} {
		if got, _ := e.Sum("kscope_dns_requests_total", "qtype", s.qtype, "rcode", s.rcode); got != s.n {
			t.Errorf("kscope_dns_requests_total{qtype=%s,rcode=%s} = %v, want %v", s.qtype, s.rcode, got, s.n)
		}
	}
	if got, _ := e.Sum("kscope_dns_requests_total"); got != 5 {
		t.Errorf("kscope_dns_requests_total sums to %v, want 5", got)
	}
	for _, smp := range e.Find("kscope_dns_request_duration_seconds") {
		var n uint64
		for _, c := range smp.Hist.Counts {
			n += c
		}
		if n != 4 {
			t.Errorf("kscope_dns_request_duration_seconds counts %d, want 4", n)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Lost != 0 || st.Malformed != 0 || st.Events != 5 {
		t.Errorf("stats %+v, want 5 events, none lost or malformed", st)
	}
}
