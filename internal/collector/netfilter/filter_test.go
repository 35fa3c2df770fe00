package netfilter

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/metrics"
	nf "github.com/kscope/kscope/internal/netfilter"
	"github.com/kscope/kscope/internal/testutil"
)

const (
	v6A = "fd00:201::1"
	v6B = "fd00:201::2"
)

var rootSeq atomic.Int64

// testRoot returns a pin root of the test's own on bpffs, removed (with
// whatever filters are left in it) at the end.
func testRoot(t *testing.T) string {
	t.Helper()
	bpfx.EnsureMounts()
	root := fmt.Sprintf("/sys/fs/bpf/kscope-test-%d-%d/filter", os.Getpid(), rootSeq.Add(1))
	if err := os.MkdirAll(root, 0o700); err != nil {
		testutil.Skip(t, "bpffs", err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(root)) })
	return root
}

// pair makes two namespaces joined by a veth pair, with IPv6 addresses too.
func pair(t *testing.T) *testutil.NetPair {
	t.Helper()
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	testutil.Run(t, "ip", "-n", p.A, "addr", "add", v6A+"/64", "dev", p.AName, "nodad")
	testutil.Run(t, "ip", "-n", p.B, "addr", "add", v6B+"/64", "dev", p.BName, "nodad")
	return p
}

// apply parses src and applies its filters inside namespace ns, removing
// them when the test ends.
func apply(t *testing.T, ns, root, src string, opts Options) []*Status {
	t.Helper()
	fs, err := nf.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	opts.Root = root
	var out []*Status
	err = testutil.In(ns, func() error {
		for _, f := range fs {
			st, err := Apply(f, opts)
			if err != nil {
				return err
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("%+v", ve)
		}
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Cleanup(func() { testutil.In(ns, func() error { Remove(root, f.Name); return nil }) })
	}
	return out
}

// receiver is a UDP socket in a namespace counting what arrives.
type receiver struct {
	conn *net.UDPConn
	n    atomic.Int64
	wg   sync.WaitGroup
}

func listen(t *testing.T, ns, addr string, port int) *receiver {
	t.Helper()
	r := &receiver{}
	err := testutil.In(ns, func() error {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(addr), Port: port})
		r.conn = c
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := r.conn.SyscallConn()
	raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) })
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 2048)
		for {
			if _, err := r.conn.Read(buf); err != nil {
				return
			}
			r.n.Add(1)
		}
	}()
	t.Cleanup(func() { r.conn.Close(); r.wg.Wait() })
	return r
}

// dial returns a UDP socket in ns connected to addr:port.
func dial(t *testing.T, ns, addr string, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := testutil.In(ns, func() error {
		var err error
		c, err = net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP(addr), Port: port})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *net.UDPConn, n, size int) {
	t.Helper()
	buf := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := c.Write(buf); err != nil {
			t.Fatalf("sending datagram %d: %v", i, err)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s", what, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func rule(t *testing.T, root, name, rule string) RuleStatus {
	t.Helper()
	st, err := Read(root, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Rules {
		if r.Name == rule {
			return r
		}
	}
	t.Fatalf("filter %s has no rule %s: %+v", name, rule, st.Rules)
	return RuleStatus{}
}

// waitRule waits for a rule's counters to reach want exactly.
func waitRule(t *testing.T, root, name, r string, want RuleStatus) {
	t.Helper()
	want.Name = r
	waitFor(t, "rule "+r+"'s counters", func() (bool, string) {
		got := rule(t, root, name, r)
		got.Action, got.Rate, got.Burst = "", 0, 0
		return got == want, fmt.Sprintf("got %+v, want %+v", got, want)
	})
}

// TestAllowDropNetns: on each hook, an allowed port passes and a blocked CIDR
// (IPv4 and IPv6) is dropped, with exact packet and byte counters.
func TestAllowDropNetns(t *testing.T) {
	for _, tc := range []struct {
		hook   string
		clsact bool
		egress bool // the filter sits on A's egress instead of B's ingress
	}{
		{hook: "xdp"},
		{hook: "tc-ingress"},
		{hook: "tc-ingress", clsact: true},
		{hook: "tc-egress", egress: true},
		{hook: "tc-egress", egress: true, clsact: true},
	} {
		name := tc.hook
		if tc.clsact {
			name += "-clsact"
		}
		t.Run(name, func(t *testing.T) {
			p := pair(t)
			root := testRoot(t)
			ns, ifname := p.B, p.BName
			if tc.egress {
				ns, ifname = p.A, p.AName
			}
			sts := apply(t, ns, root, `filters:
  - name: f
    interface: `+ifname+`
    hook: `+tc.hook+`
    rules:
      - {name: open, action: allow, protocol: udp, ports: [9001]}
      - {name: lab4, action: drop, source: [10.201.0.0/30]}
      - {name: lab6, action: drop, source: ["`+v6A+`/128"], protocol: udp}
`, Options{Clsact: tc.clsact})
			st := sts[0]
			wantAttach := expectAttach(tc.hook, tc.clsact)
			if st.Attach != wantAttach || st.Hook != tc.hook || st.Interface != ifname || st.ProgramID == 0 {
				t.Fatalf("status %+v", st)
			}
			open4, open6 := listen(t, p.B, p.BAddr, 9001), listen(t, p.B, v6B, 9001)
			shut4, shut6 := listen(t, p.B, p.BAddr, 9002), listen(t, p.B, v6B, 9002)
			const blocked, allowed, size = 30, 50, 100
			send(t, dial(t, p.A, p.BAddr, 9002), blocked, size)
			send(t, dial(t, p.A, v6B, 9002), blocked, size)
			send(t, dial(t, p.A, p.BAddr, 9001), allowed, size)
			send(t, dial(t, p.A, v6B, 9001), allowed, size)
			waitFor(t, "the allowed datagrams", func() (bool, string) {
				return open4.n.Load() == allowed && open6.n.Load() == allowed, fmt.Sprintf("%d and %d of %d", open4.n.Load(), open6.n.Load(), allowed)
			})
			len4, len6 := uint64(14+20+8+size), uint64(14+40+8+size)
			waitRule(t, root, "f", "open", RuleStatus{Packets: 2 * allowed, Bytes: allowed * (len4 + len6)})
			waitRule(t, root, "f", "lab4", RuleStatus{Packets: blocked, Bytes: blocked * len4, Dropped: blocked, DroppedBytes: blocked * len4})
			waitRule(t, root, "f", "lab6", RuleStatus{Packets: blocked, Bytes: blocked * len6, Dropped: blocked, DroppedBytes: blocked * len6})
			wantMetric(t, root, "kscope_net_filter_packets_total", 2*allowed, "filter", "f", "rule", "open", "action", "pass")
			wantMetric(t, root, "kscope_net_filter_bytes_total", float64(blocked*len6), "filter", "f", "rule", "lab6", "action", "drop")
			wantMetric(t, root, "kscope_net_filter_rules", 3, "filter", "f", "interface", ifname, "hook", tc.hook, "attach", wantAttach, "mode", "enforce", "default", "allow")
			// The blocked datagrams were sent first on the same path.
			if n4, n6 := shut4.n.Load(), shut6.n.Load(); n4 != 0 || n6 != 0 {
				t.Fatalf("blocked port received %d IPv4 and %d IPv6 datagrams", n4, n6)
			}
		})
	}
}

// TestAuditNetns: audit mode drops nothing and counts exactly what enforce
// would have dropped, the default policy included.
func TestAuditNetns(t *testing.T) {
	p := pair(t)
	root := testRoot(t)
	apply(t, p.B, root, `filters:
  - name: a
    interface: `+p.BName+`
    mode: audit
    default: drop
    rules:
      - {name: lab, action: drop, source: [10.201.0.0/30], protocol: udp, ports: [9002]}
      - {name: ok, action: allow, protocol: udp, ports: [9001]}
`, Options{})
	r1, r2 := listen(t, p.B, p.BAddr, 9001), listen(t, p.B, p.BAddr, 9002)
	const n, size = 40, 64
	send(t, dial(t, p.A, p.BAddr, 9002), n, size)
	send(t, dial(t, p.A, p.BAddr, 9001), n, size)
	waitFor(t, "every datagram", func() (bool, string) {
		return r1.n.Load() == n && r2.n.Load() == n, fmt.Sprintf("%d and %d of %d", r1.n.Load(), r2.n.Load(), n)
	})
	l := uint64(14 + 20 + 8 + size)
	waitRule(t, root, "a", "lab", RuleStatus{Packets: n, Bytes: n * l, Dropped: n, DroppedBytes: n * l})
	waitRule(t, root, "a", "ok", RuleStatus{Packets: n, Bytes: n * l})
	wantMetric(t, root, "kscope_net_filter_packets_total", n, "filter", "a", "rule", "lab", "action", "would_drop")
	wantMetric(t, root, "kscope_net_filter_packets_total", n, "filter", "a", "rule", "ok", "action", "pass")
	promtoolCheck(t, root)
	// The default's packets (IPv6 neighbour discovery, …) would all have
	// been dropped.
	def := rule(t, root, "a", DefaultRule)
	if def.Packets != def.Dropped {
		t.Fatalf("default: %+v", def)
	}
}

// TestRateLimitNetns: a source blasting datagrams gets through what the
// rule's token bucket (GCRA, rate and burst) lets through at the times it
// sent them, within 10%. The sender notes the time of every datagram, so a
// sender that loses the CPU on a loaded host (the tokens of the gap beyond
// the burst are lost, as they should be) does not make the test fail, and a
// limit that lets through too much or too little does.
func TestRateLimitNetns(t *testing.T) {
	p := pair(t)
	root := testRoot(t)
	const rate, burst = 1000, 500
	apply(t, p.B, root, `filters:
  - name: rl
    interface: `+p.BName+`
    rules:
      - {name: flood, action: rate-limit, protocol: udp, ports: [9003], rate: `+strconv.Itoa(rate)+`/s, burst: `+strconv.Itoa(burst)+`}
`, Options{})
	listen(t, p.B, p.BAddr, 9003)
	c := dial(t, p.A, p.BAddr, 9003)
	buf := make([]byte, 32)
	times := make([]time.Duration, 0, 1<<20)
	start := time.Now()
	for {
		at := time.Since(start)
		if at >= 3*time.Second {
			break
		}
		times = append(times, at)
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	sent := uint64(len(times))
	waitFor(t, "the counters", func() (bool, string) {
		r := rule(t, root, "rl", "flood")
		return r.Packets == sent, fmt.Sprintf("%d of %d", r.Packets, sent)
	})
	r := rule(t, root, "rl", "flood")
	passed := float64(r.Packets - r.Dropped)
	want := float64(gcraPasses(times, rate, burst))
	t.Logf("sent %d in %s, passed %.0f, the bucket at the send times passes %.0f (rate × time + burst: %.0f)", sent, times[len(times)-1], passed, want, burst+rate*times[len(times)-1].Seconds())
	if sent < uint64(2*want) {
		t.Fatalf("sent only %d datagrams: too few to test a rate of %d/s", sent, rate)
	}
	if passed < want*0.9 || passed > want*1.1 {
		t.Fatalf("passed %.0f datagrams, want %.0f ± 10%%", passed, want)
	}
}

// gcraPasses is how many of the packets sent at times a GCRA bucket of
// rate per second and burst lets through, as the filter's over_rate
// decides: a new source's first packet passes and sets the theoretical
// arrival time one interval ahead.
func gcraPasses(times []time.Duration, rate, burst int64) int {
	interval := time.Second / time.Duration(rate)
	tolerance := time.Duration(burst) * interval
	var tat time.Duration
	n := 0
	for i, now := range times {
		if i == 0 {
			tat, n = now+interval, 1
			continue
		}
		next := max(tat, now) + interval
		if next-now > tolerance {
			continue
		}
		tat = next
		n++
	}
	return n
}

// TestReplaceAtomicNetns applies two versions of a filter in turn while
// traffic flows: not one datagram of the blocked port gets through, not one
// of the open port is lost, and the counters, kept across applies by rule
// name, count each datagram once.
func TestReplaceAtomicNetns(t *testing.T) {
	for _, clsact := range []bool{false, true} {
		for _, hook := range []string{"xdp", "tc-ingress"} {
			if hook == "xdp" && clsact {
				continue
			}
			t.Run(fmt.Sprintf("%s-clsact=%v", hook, clsact), func(t *testing.T) {
				testReplace(t, hook, clsact)
			})
		}
	}
}

func testReplace(t *testing.T, hook string, clsact bool) {
	p := pair(t)
	root := testRoot(t)
	v1 := `filters:
  - name: r
    interface: ` + p.BName + `
    hook: ` + hook + `
    rules:
      - {name: open, action: allow, protocol: udp, ports: [9001]}
      - {name: shut, action: drop, protocol: udp, ports: [9002]}
`
	v2 := `filters:
  - name: r
    interface: ` + p.BName + `
    hook: ` + hook + `
    rules:
      - {name: other, action: drop, protocol: udp, ports: [9009]}
      - {name: shut, action: drop, source: [10.0.0.0/8], protocol: udp, ports: [9002, 9005-9008]}
      - {name: open, action: allow, protocol: udp}
`
	first := apply(t, p.B, root, v1, Options{Clsact: clsact})[0]
	open, shut := listen(t, p.B, p.BAddr, 9001), listen(t, p.B, p.BAddr, 9002)
	c1, c2 := dial(t, p.A, p.BAddr, 9001), dial(t, p.A, p.BAddr, 9002)
	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 16)
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			// Keep the receiver within reach: no datagram is lost to a
			// full socket buffer.
			for sent.Load()-open.n.Load() > 1000 {
				time.Sleep(time.Millisecond)
			}
			if _, err := c2.Write(buf); err != nil {
				done <- err
				return
			}
			if _, err := c1.Write(buf); err != nil {
				done <- err
				return
			}
			sent.Add(1)
		}
	}()
	const rounds = 10
	for i := 0; i < rounds; i++ {
		for _, v := range []string{v2, v1} {
			before := sent.Load()
			st := apply(t, p.B, root, v, Options{Clsact: clsact})[0]
			if st.LinkID != first.LinkID {
				t.Fatalf("apply %d: link %d, want the first one's %d", i, st.LinkID, first.LinkID)
			}
			// Traffic flowed while the filter changed.
			waitFor(t, "traffic", func() (bool, string) { return sent.Load() > before+20, "" })
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n := sent.Load()
	waitFor(t, "the open port's datagrams", func() (bool, string) {
		return open.n.Load() == n, fmt.Sprintf("%d of %d", open.n.Load(), n)
	})
	l := uint64(14 + 20 + 8 + 16)
	waitRule(t, root, "r", "open", RuleStatus{Packets: uint64(n), Bytes: uint64(n) * l})
	waitRule(t, root, "r", "shut", RuleStatus{Packets: uint64(n), Bytes: uint64(n) * l, Dropped: uint64(n), DroppedBytes: uint64(n) * l})
	if got := shut.n.Load(); got != 0 {
		t.Fatalf("%d datagrams of the blocked port got through", got)
	}
	t.Logf("%d datagrams each way over %d applies", n, 2*rounds)
}

// TestRemoveNetns: remove leaves no program, link, tc filter or pin behind, as
// the kernel's own lists say.
func TestRemoveNetns(t *testing.T) {
	for _, tc := range []struct {
		hook   string
		clsact bool
	}{{"xdp", false}, {"tc-egress", false}, {"tc-ingress", true}} {
		t.Run(fmt.Sprintf("%s-clsact=%v", tc.hook, tc.clsact), func(t *testing.T) {
			p := pair(t)
			root := testRoot(t)
			st := apply(t, p.B, root, `filters:
  - name: gone
    interface: `+p.BName+`
    hook: `+tc.hook+`
    rules:
      - {action: drop, destination: ["2001:db8::/32"]}
`, Options{Clsact: tc.clsact})[0]
			var maps []ebpf.MapID
			prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(st.ProgramID))
			if err != nil {
				t.Fatal(err)
			}
			info, err := prog.Info()
			prog.Close()
			if err != nil {
				t.Fatal(err)
			}
			maps, _ = info.MapIDs()
			if len(maps) < 6 {
				t.Fatalf("program uses maps %v", maps)
			}
			if (st.LinkID != 0) != (expectAttach(tc.hook, tc.clsact) != AttachClsact) {
				t.Fatalf("link id %d attached with %s", st.LinkID, st.Attach)
			}
			if err := testutil.In(p.B, func() error { return Remove(root, "gone") }); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, "gone")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("pin directory still there: %v", err)
			}
			if err := testutil.In(p.B, func() error { return Remove(root, "gone") }); !errors.Is(err, ErrNoFilter) {
				t.Fatalf("second remove: %v", err)
			}
			// The kernel frees objects after a grace period.
			freeing := time.Now()
			var last string
			defer func() { t.Logf("freed in %s (last: %s)", time.Since(freeing), last) }()
			waitFor(t, "the program, link and maps to be freed", func() (bool, string) {
				if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(st.ProgramID)); err == nil {
					p.Close()
					last = "program still loaded"
					return false, last
				}
				if st.LinkID != 0 {
					if l, err := link.NewFromID(link.ID(st.LinkID)); err == nil {
						l.Close()
						last = "link still there"
						return false, last
					}
				}
				for _, id := range maps {
					if m, err := ebpf.NewMapFromID(id); err == nil {
						m.Close()
						last = fmt.Sprintf("map %d still there", id)
						return false, last
					}
				}
				return true, ""
			})
			out := testutil.Run(t, "ip", "-n", p.B, "link", "show", "dev", p.BName)
			if tc.hook == "xdp" && strings.Contains(out, "xdp") {
				t.Fatalf("XDP still attached: %s", out)
			}
			if st.Attach == AttachClsact {
				testutil.Tool(t, "tc", "listing tc filters")
				if out := testutil.Run(t, "tc", "-n", p.B, "filter", "show", "dev", p.BName, "ingress"); out != "" {
					t.Fatalf("tc filter left: %s", out)
				}
			}
		})
	}
}

// promtoolCheck renders the collector's metrics as the agent's /metrics
// does and has promtool lint them.
func promtoolCheck(t *testing.T, root string) {
	t.Helper()
	promtool := testutil.Tool(t, "promtool", "linting metric names (Debian package prometheus)")
	c := NewAt(root)
	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := metrics.WriteText(&b, c.Describe(), e.Samples); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out, b.String())
	}
}

// expectAttach says how a filter on hook gets attached here: TC hooks use
// tcx where the kernel has it, unless the test forces clsact.
func expectAttach(hook string, clsact bool) string {
	switch {
	case hook == "xdp":
		return AttachXDP
	case clsact || bpfx.ProbeFeature(bpfx.FeatTCX) != nil:
		return AttachClsact
	}
	return AttachTCX
}

// wantMetric checks one series of the netfilter collector's metrics.
func wantMetric(t *testing.T, root, name string, want float64, match ...string) {
	t.Helper()
	c := NewAt(root)
	var e metrics.Emitter
	if err := c.Collect(&e); err != nil {
		t.Fatal(err)
	}
	if got := e.Find(name, match...); len(got) != 1 || got[0].Value != want {
		t.Fatalf("%s%v: got %+v, want %v", name, match, got, want)
	}
}

// TestConcurrentApplyNetns: applies of a new filter from several processes at
// once take turns (the pin root's lock): the first attaches, the others
// replace its program, and each succeeds.
func TestConcurrentApplyNetns(t *testing.T) {
	p := pair(t)
	root := testRoot(t)
	src := func(port int) string {
		return `filters:
  - name: c
    interface: ` + p.BName + `
    rules:
      - {name: r, action: drop, protocol: udp, ports: [` + strconv.Itoa(port) + `]}
`
	}
	t.Cleanup(func() { testutil.In(p.B, func() error { return Remove(root, "c") }) })
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fs, err := nf.Parse("c.yaml", []byte(src(100+i)))
			if err != nil {
				errs <- err
				return
			}
			for j := 0; j < 3; j++ {
				if err := testutil.In(p.B, func() error { _, err := Apply(fs[0], Options{Root: root}); return err }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, err := Read(root, "c")
	if err != nil {
		t.Fatal(err)
	}
	if st.LinkID == 0 || st.Attach != AttachXDP {
		t.Fatalf("status %+v", st)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "c"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := fmt.Sprint(names); got != "[buckets counters dst info l4 link prog rules src]" {
		t.Fatalf("pins %s", got)
	}
}

// frame builds an Ethernet frame with the given VLAN tags (outer first)
// around an IPv4 UDP datagram from 10.201.0.1 to 10.201.0.2:dport;
// fragOff is the IPv4 fragment offset field.
func frame(tags []uint16, dport uint16, fragOff uint16) []byte {
	b := make([]byte, 12) // MACs
	for i, tpid := range tags {
		b = append(b, byte(tpid>>8), byte(tpid), 0, byte(i+1))
	}
	b = append(b, 0x08, 0x00)
	ip := []byte{0x45, 0, 0, 28, 0, 0, byte(fragOff >> 8), byte(fragOff), 64, 17, 0, 0, 10, 201, 0, 1, 10, 201, 0, 2}
	udp := []byte{0x9c, 0x40, byte(dport >> 8), byte(dport), 0, 8, 0, 0}
	b = append(append(b, ip...), udp...)
	for len(b) < 60 {
		b = append(b, 0)
	}
	return b
}

// TestParseNetns runs the pinned XDP program on crafted frames
// (BPF_PROG_TEST_RUN): VLAN tags in the frame are skipped, a non-first
// fragment has no port, and what is not IP passes uncounted.
func TestParseNetns(t *testing.T) {
	p := pair(t)
	root := testRoot(t)
	// On B's loopback, which no packet crosses, so the counters move only
	// with the test's frames.
	apply(t, p.B, root, `filters:
  - name: p
    interface: lo
    rules:
      - {name: port, action: drop, source: [10.201.0.0/30], protocol: udp, ports: [9002]}
      - {name: frag, action: drop, protocol: udp, destination: [10.201.0.2/32]}
`, Options{})
	prog, err := ebpf.LoadPinnedProgram(filepath.Join(root, "p", "prog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	arp := append(make([]byte, 12), 0x08, 0x06)
	arp = append(arp, make([]byte, 46)...)
	const xdpDrop, xdpPass = 1, 2
	for _, tc := range []struct {
		name string
		data []byte
		want uint32
		rule string
	}{
		{"untagged", frame(nil, 9002, 0), xdpDrop, "port"},
		{"802.1Q", frame([]uint16{0x8100}, 9002, 0), xdpDrop, "port"},
		{"802.1ad+802.1Q", frame([]uint16{0x88a8, 0x8100}, 9002, 0), xdpDrop, "port"},
		{"first fragment", frame(nil, 9002, 0x2000), xdpDrop, "port"}, // more fragments, offset 0
		{"later fragment", frame(nil, 9002, 0x0010), xdpDrop, "frag"}, // offset 128: no port
		{"other port", frame(nil, 9003, 0), xdpDrop, "frag"},
		{"arp", arp, xdpPass, ""},
	} {
		var before RuleStatus
		if tc.rule != "" {
			before = rule(t, root, "p", tc.rule)
		}
		def := rule(t, root, "p", DefaultRule)
		ret, err := prog.Run(&ebpf.RunOptions{Data: tc.data})
		if err != nil {
			t.Fatal(err)
		}
		if ret != tc.want {
			t.Errorf("%s: returned %d, want %d", tc.name, ret, tc.want)
		}
		if tc.rule != "" {
			if after := rule(t, root, "p", tc.rule); after.Packets != before.Packets+1 || after.Bytes != before.Bytes+uint64(len(tc.data)) {
				t.Errorf("%s: rule %s went from %+v to %+v", tc.name, tc.rule, before, after)
			}
		} else if after := rule(t, root, "p", DefaultRule); after != def {
			t.Errorf("%s: counted in default: %+v → %+v", tc.name, def, after)
		}
	}
}

// TestXDPModeNetns: an xdp filter attached in generic and in native mode
// (a veth has both) is where the interface says, and drops the same.
func TestXDPModeNetns(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want uint32 // the interface's XDP attach mode (IFLA_XDP_ATTACHED)
	}{
		{XDPGeneric, nl.XDP_ATTACHED_SKB},
		{XDPNative, nl.XDP_ATTACHED_DRV},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			p := pair(t)
			root := testRoot(t)
			apply(t, p.B, root, `filters:
  - name: m
    interface: `+p.BName+`
    hook: xdp
    rules:
      - {name: lab, action: drop, source: [10.201.0.0/30], protocol: udp, ports: [9002]}
`, Options{XDPMode: tc.mode})
			var attached uint32
			if err := testutil.In(p.B, func() error {
				l, err := netlink.LinkByName(p.BName)
				if err != nil {
					return err
				}
				if x := l.Attrs().Xdp; x != nil {
					attached = x.AttachMode
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if attached != tc.want {
				t.Fatalf("XDP attach mode %d, want %d", attached, tc.want)
			}
			r := listen(t, p.B, p.BAddr, 9001)
			const n, size = 30, 10
			send(t, dial(t, p.A, p.BAddr, 9002), n, size)
			send(t, dial(t, p.A, p.BAddr, 9001), n, size)
			waitFor(t, "the allowed datagrams", func() (bool, string) { return r.n.Load() == n, fmt.Sprint(r.n.Load()) })
			l := uint64(14 + 20 + 8 + size)
			waitRule(t, root, "m", "lab", RuleStatus{Packets: n, Bytes: n * l, Dropped: n, DroppedBytes: n * l})
		})
	}
}
