package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	nfc "github.com/kscope/kscope/internal/collector/netfilter"
	"github.com/kscope/kscope/internal/testutil"
)

// netWorkload, run in a namespace, sends 64 KiB over TCP to the server
// (its first argument) every 200 ms, asks the DNS server (the second) for
// ok.nettest. and missing.nettest., and sends a datagram to the third
// (which a firewall drops), until killed.
const netWorkload = `package main

import (
	"net"
	"os"
	"strings"
	"time"
)

func query(id uint16, name string) []byte {
	b := []byte{byte(id >> 8), byte(id), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0, 0, 1, 0, 1)
}

func main() {
	buf := make([]byte, 64<<10)
	for n := 0; n < 1500; n++ {
		if c, err := net.Dial("tcp", os.Args[1]); err == nil {
			c.Write(buf)
			c.Close()
		}
		for i, name := range []string{"ok.nettest.", "missing.nettest."} {
			if c, err := net.Dial("udp", os.Args[2]); err == nil {
				c.Write(query(uint16(n*2+i), name))
				c.SetReadDeadline(time.Now().Add(time.Second))
				c.Read(buf[:512])
				c.Close()
			}
		}
		if c, err := net.Dial("udp", os.Args[3]); err == nil {
			c.Write([]byte("dropped"))
			c.Close()
		}
		time.Sleep(200 * time.Millisecond)
	}
}
`

// TestWebNetwork runs the agent with the flows, dns and drops collectors
// while a named workload in one namespace moves TCP traffic, asks DNS
// questions (one answered, one NXDOMAIN) and sends into a firewall's DROP
// rule in another, and checks the web UI's Network page in headless
// Chromium (web/e2e/network.mjs): the workload among the top talkers and
// with its remote endpoint, the failing and the answered name, and the
// NETFILTER_DROP drops, and the rule of a filter on the server's
// interface with its packet counter.
func TestWebNetwork(t *testing.T) {
	testutil.RequireBPF(t)
	node, chromium := webTools(t)
	testutil.Tool(t, "nft", "a DROP rule for the drops panel")
	dir := os.Getenv("KSCOPE_TEST_OUT")
	if dir == "" {
		dir = filepath.Join("..", "..", "out")
	}
	out, _ := filepath.Abs(filepath.Join(dir, "web-e2e-network"))
	os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "kscope-nettest")
	src := filepath.Join(tmp, "main.go")
	if err := os.WriteFile(src, []byte(netWorkload), 0o600); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the workload: %v\n%s", err, b)
	}

	p := testutil.NewNetPair(t)
	testutil.Run(t, "ip", "netns", "exec", p.B, "nft", "add table inet kscope_webnet")
	testutil.Run(t, "ip", "netns", "exec", p.B, "nft", "add chain inet kscope_webnet in { type filter hook input priority 0 ; }")
	testutil.Run(t, "ip", "netns", "exec", p.B, "nft", "add rule inet kscope_webnet in udp dport 9999 counter drop")

	// A filter on B's veth whose rule counts the workload's TCP packets,
	// pinned where the agent's netfilter collector is told to look.
	root := fmt.Sprintf("/sys/fs/bpf/kscope-webnet-test-%d", os.Getpid())
	if err := os.MkdirAll(root, 0o700); err != nil {
		testutil.Skip(t, "bpffs", err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	filters := filepath.Join(tmp, "filters.yaml")
	os.WriteFile(filters, []byte(`filters:
  - name: webnet
    interface: `+p.BName+`
    hook: tc-ingress
    default: allow
    rules:
      - {name: web-tcp, action: allow, protocol: tcp, ports: [8080]}
      - {name: never-matched, action: drop, protocol: udp, ports: [1]}
`), 0o600)
	if code, stdout, stderr := runCLI("net", "filter", "apply", filters, "--pin-dir", root, "--netns", p.B); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Cleanup(func() { testutil.In(p.B, func() error { return nfc.Remove(root, "webnet") }) })
	config := filepath.Join(tmp, "agent.yaml")
	os.WriteFile(config, []byte("collectors:\n  netfilter: {pin_dir: "+root+"}\n"), 0o600)

	a := startAgent(t, t.TempDir(), "--collectors", "flows,dns,drops,connect,netfilter", "--config", config)

	// The servers listen once the agent runs, in the other namespace.
	var ln net.Listener
	var pc net.PacketConn
	if err := testutil.In(p.B, func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		if ln, err = lc.Listen(context.Background(), "tcp4", net.JoinHostPort(p.BAddr, "8080")); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", net.JoinHostPort(p.BAddr, "53"))
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
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if r.Question[0].Name == "ok.nettest." {
			rr, _ := mdns.NewRR("ok.nettest. 60 IN A 192.0.2.8")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })

	w := exec.Command("ip", "netns", "exec", p.A, bin, net.JoinHostPort(p.BAddr, "8080"), net.JoinHostPort(p.BAddr, "53"), net.JoinHostPort(p.BAddr, "9999"))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Process.Kill(); w.Wait() })

	eventually(t, "the workload's flows are stored", func() error {
		body, err := httpGet(a.url + "/api/v1/events?type=flow&match=comm=kscope-nettest&match=remote_port=8080&limit=1")
		if err != nil || !strings.Contains(body, `"remote_port":8080`) {
			return fmt.Errorf("%v %.300s", err, body)
		}
		return nil
	})
	eventually(t, "the workload's failed lookups are stored", func() error {
		body, err := httpGet(a.url + "/api/v1/events?type=dns&match=comm=kscope-nettest&match=rcode=NXDOMAIN&limit=1")
		if err != nil || !strings.Contains(body, `"qname":"missing.nettest."`) {
			return fmt.Errorf("%v %.300s", err, body)
		}
		return nil
	})
	eventually(t, "the drops are counted", func() error {
		res := instant(t, a.url, `sum(kscope_packet_drops_total{reason="NETFILTER_DROP"})`, time.Time{})
		for _, v := range res {
			if v > 0 {
				return nil
			}
		}
		return fmt.Errorf("%v", res)
	})
	eventually(t, "the workload's bytes are counted", func() error {
		res := instant(t, a.url, `sum(kscope_net_flow_bytes_total{comm="kscope-nettest",direction="sent"})`, time.Time{})
		for _, v := range res {
			if v >= 64<<10 {
				return nil
			}
		}
		return fmt.Errorf("%v", res)
	})

	eventually(t, "the filter rule's packets are counted", func() error {
		res := instant(t, a.url, `sum(kscope_net_filter_packets_total{filter="webnet",rule="web-tcp",action="pass"})`, time.Time{})
		for _, v := range res {
			if v > 0 {
				return nil
			}
		}
		return fmt.Errorf("%v", res)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "e2e/network.mjs")
	cmd.Dir = "../../web"
	cmd.Env = append(os.Environ(), "KSCOPE_URL="+a.url, "KSCOPE_OUT="+out, "KSCOPE_COMM=kscope-nettest",
		"KSCOPE_REMOTE="+net.JoinHostPort(p.BAddr, "8080"), "KSCOPE_FAILNAME=missing.nettest.", "KSCOPE_SLOWNAME=ok.nettest.",
		"KSCOPE_DROP=NETFILTER_DROP", "KSCOPE_FILTER=webnet", "KSCOPE_FILTER_RULE=web-tcp", "CHROMIUM="+chromium, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var failed []string
	for sc.Scan() {
		t.Log(sc.Text())
		if strings.HasPrefix(sc.Text(), "FAIL") {
			failed = append(failed, sc.Text())
		}
	}
	if err := cmd.Wait(); err != nil || len(failed) > 0 {
		t.Fatalf("Network page checks failed (%v):\n%s\nagent log:\n%s", err, strings.Join(failed, "\n"), lastLines(a.stderr.String(), 20))
	}
	for _, name := range []string{"network-1280", "network-390"} {
		if fi, err := os.Stat(filepath.Join(out, name+".png")); err != nil || fi.Size() < 10000 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
}
