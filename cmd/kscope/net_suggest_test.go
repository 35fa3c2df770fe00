package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	nfc "github.com/kscope/kscope/internal/collector/netfilter"
	"github.com/kscope/kscope/internal/netfilter"
	"github.com/kscope/kscope/internal/testutil"
)

// suggestTraffic, from namespace A, sends k bytes over TCP to the
// server's tcp port and n datagrams of 100 bytes to its udp port, and
// waits for the TCP server to close.
func suggestTraffic(t *testing.T, p *testutil.NetPair, tcpPort, udpPort, k, n int) {
	t.Helper()
	if err := testutil.In(p.A, func() error {
		d := net.Dialer{Timeout: 30 * time.Second}
		d.SetMultipathTCP(false)
		c, err := d.Dial("tcp4", net.JoinHostPort(p.BAddr, strconv.Itoa(tcpPort)))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write(make([]byte, k)); err != nil {
			return err
		}
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			return err
		}
		u, err := net.Dial("udp4", net.JoinHostPort(p.BAddr, strconv.Itoa(udpPort)))
		if err != nil {
			return err
		}
		defer u.Close()
		for range n {
			if _, err := u.Write(make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// udpServer listens in namespace B and counts the datagrams it receives.
type udpServer struct {
	pc   net.PacketConn
	got  chan int
	done chan struct{}
}

func listenUDP(t *testing.T, p *testutil.NetPair, port int) *udpServer {
	t.Helper()
	s := &udpServer{got: make(chan int, 1), done: make(chan struct{})}
	if err := testutil.In(p.B, func() (err error) {
		s.pc, err = net.ListenPacket("udp4", net.JoinHostPort(p.BAddr, strconv.Itoa(port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		buf := make([]byte, 2048)
		n := 0
		for {
			if _, _, err := s.pc.ReadFrom(buf); err != nil {
				return
			}
			n++
			select {
			case <-s.got:
			default:
			}
			s.got <- n
		}
	}()
	return s
}

// wait waits for the n-th datagram.
func (s *udpServer) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case got := <-s.got:
			if got >= n {
				return
			}
		case <-deadline:
			t.Fatalf("the UDP server on %s received fewer than %d datagrams", s.pc.LocalAddr(), n)
		}
	}
}

func (s *udpServer) close() { s.pc.Close(); <-s.done }

// TestNetFilterSuggestNetns: an agent with the flows collector sees TCP
// and UDP traffic from namespace A to servers in namespace B; `net filter
// suggest` writes an allow-list for B's veth with exactly those two
// services; applied (audit mode), the same traffic again counts zero
// would-be drops and exactly the datagrams of each rule, while 7 datagrams
// to a port not seen and one connect to another count as 8 would-be drops,
// and still arrive.
func TestNetFilterSuggestNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	// No IPv6 on the pair: its neighbour discovery would hit the default.
	for _, ns := range []string{p.A, p.B} {
		if err := testutil.In(ns, func() error {
			for _, c := range []string{"all", "default"} {
				if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/disable_ipv6", []byte("1"), 0); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			testutil.Skip(t, "ipv6 sysctls", err)
		}
	}
	root := fmt.Sprintf("/sys/fs/bpf/kscope-suggest-test-%d", os.Getpid())
	if err := os.MkdirAll(root, 0o700); err != nil {
		testutil.Skip(t, "bpffs", err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })

	a := startAgent(t, t.TempDir(), "--collectors", "flows")

	const tcpPort, udpPort, k, n = 7001, 7002, 100000, 5
	var ln net.Listener
	if err := testutil.In(p.B, func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err = lc.Listen(context.Background(), "tcp4", net.JoinHostPort(p.BAddr, strconv.Itoa(tcpPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	var cookie uint64
	testutil.In(p.B, func() error { cookie = netnsCookie(); return nil })
	if cookie == 0 {
		testutil.Skip(t, "SO_NETNS_COOKIE", errors.New("the namespace's cookie cannot be read"))
	}

	// Observe: the flows end (the UDP server closes its socket) and are stored.
	us := listenUDP(t, p, udpPort)
	suggestTraffic(t, p, tcpPort, udpPort, k, n)
	us.wait(t, n)
	us.close()
	for _, proto := range []string{"tcp", "udp"} {
		eventually(t, "B's "+proto+" flow is stored", func() error {
			body, err := httpGet(fmt.Sprintf("%s/api/v1/events?type=flow&match=netns_cookie=%d&match=proto=%s&match=local_addr=%s&limit=1", a.url, cookie, proto, p.BAddr))
			if err != nil || !strings.Contains(body, `"local_addr":"`+p.BAddr+`"`) {
				return fmt.Errorf("%v %.300s", err, body)
			}
			return nil
		})
	}

	file := filepath.Join(t.TempDir(), "suggested.yaml")
	code, stdout, stderr := runCLI("net", "filter", "suggest", "--since", "10m", "--server", a.url, "--netns", p.B,
		"--interface", p.BName, "--hook", "xdp", "--name", "suggested", "-o", file)
	if code != 0 {
		t.Fatalf("suggest: exit %d\n%s%s", code, stdout, stderr)
	}
	data, _ := os.ReadFile(file)
	t.Logf("suggested:\n%s", data)
	if want := file + ": filter suggested: 2 rules on " + p.BName + " xdp from 2 flows, default drop, audit\n"; stdout != want {
		t.Errorf("suggest said %q, want %q", stdout, want)
	}
	fs, err := netfilter.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	f := fs[0]
	var rules []string
	for _, r := range f.Rules {
		rules = append(rules, fmt.Sprintf("%s %s %v %d %v", r.Name, r.Action, r.Source, r.Protocol, r.Ports))
	}
	want := []string{
		fmt.Sprintf("tcp-%d-from-%s allow [%s/32] 6 [%d]", tcpPort, p.AAddr, p.AAddr, tcpPort),
		fmt.Sprintf("udp-%d-from-%s allow [%s/32] 17 [%d]", udpPort, p.AAddr, p.AAddr, udpPort),
	}
	if f.Interface != p.BName || f.Hook != "xdp" || f.Default != "drop" || f.Mode != "audit" || strings.Join(rules, "\n") != strings.Join(want, "\n") {
		t.Fatalf("suggested filter %s %s %s %s, rules:\n%s\nwant:\n%s", f.Interface, f.Hook, f.Default, f.Mode, strings.Join(rules, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range []string{
		fmt.Sprintf("(pid %d): 1 flow, %d bytes; connections to local port %d\n", os.Getpid(), k, tcpPort),
		fmt.Sprintf("(pid %d): 1 flow, %d bytes; connections to local port %d\n", os.Getpid(), n*100, udpPort),
	} {
		if !strings.Contains(string(data), c) {
			t.Errorf("no comment %q", c)
		}
	}

	// Apply it in audit mode: the same traffic counts no would-be drop.
	if code, stdout, stderr := runCLI("net", "filter", "apply", file, "--pin-dir", root, "--netns", p.B); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Cleanup(func() { testutil.In(p.B, func() error { return nfc.Remove(root, "suggested") }) })
	stats := func() map[string]nfc.RuleStatus {
		t.Helper()
		var st *nfc.Status
		if err := testutil.In(p.B, func() (err error) { st, err = nfc.Read(root, "suggested"); return err }); err != nil {
			t.Fatal(err)
		}
		m := map[string]nfc.RuleStatus{}
		for _, r := range st.Rules {
			m[r.Name] = r
		}
		return m
	}
	us = listenUDP(t, p, udpPort)
	defer us.close()
	suggestTraffic(t, p, tcpPort, udpPort, k, n)
	us.wait(t, n)
	st := stats()
	tcpRule, udpRule := st[strings.Fields(want[0])[0]], st[strings.Fields(want[1])[0]]
	if tcpRule.Packets == 0 || tcpRule.Dropped != 0 || udpRule.Packets != n || udpRule.Bytes != n*(14+20+8+100) || udpRule.Dropped != 0 ||
		st[netfilter.DefaultRule].Packets != 0 || st[netfilter.DefaultRule].Dropped != 0 {
		t.Fatalf("after the traffic seen: %+v", st)
	}

	// Traffic not seen: 7 datagrams to another port, one connect to a
	// closed port (one SYN, answered by a reset): 8 would-be drops, and
	// the datagrams still arrive.
	other := listenUDP(t, p, 7003)
	defer other.close()
	if err := testutil.In(p.A, func() error {
		u, err := net.Dial("udp4", net.JoinHostPort(p.BAddr, "7003"))
		if err != nil {
			return err
		}
		defer u.Close()
		for range 7 {
			if _, err := u.Write(make([]byte, 10)); err != nil {
				return err
			}
		}
		d := net.Dialer{Timeout: 30 * time.Second}
		d.SetMultipathTCP(false)
		c, err := d.Dial("tcp4", net.JoinHostPort(p.BAddr, "7004"))
		if err == nil {
			c.Close()
			return errors.New("a connect to closed port 7004 succeeded")
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("connecting to closed port 7004: %w, want ECONNREFUSED", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	other.wait(t, 7)
	after := stats()
	def := after[netfilter.DefaultRule]
	if def.Packets != 8 || def.Dropped != 8 || def.DroppedBytes != 7*(14+20+8+10)+(14+60) {
		t.Errorf("default after traffic not seen: %+v, want 8 packets, 8 would-be drops of %d bytes", def, 7*(14+20+8+10)+(14+60))
	}
	if after[tcpRule.Name] != tcpRule || after[udpRule.Name] != udpRule {
		t.Errorf("rules moved: %+v, were %+v %+v", after, tcpRule, udpRule)
	}
}

// TestNetFilterSuggestUsage: bad flags are usage errors (exit 2), before
// the agent is asked.
func TestNetFilterSuggestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--hook", "tc"}, `--hook "tc": want one of xdp, tc-ingress, tc-egress`},
		{[]string{"--ephemeral-ports", "60999-32768"}, `--ephemeral-ports: "60999-32768": want LO-HI`},
		{[]string{"--max-peers", "0"}, "--max-peers 0: must be positive"},
	} {
		code, _, stderr := runCLI(append([]string{"net", "filter", "suggest", "--server", "http://127.0.0.1:1"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
