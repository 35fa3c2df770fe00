package drops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/drops"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/testutil"
)

// nftPackets reads the packet counter of the test's drop rule.
func nftPackets(t *testing.T, ns string) int {
	t.Helper()
	out := testutil.Run(t, "ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet", "kscope_test")
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Expr []map[string]json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("parsing nft's JSON: %v\n%s", err, out)
	}
	for _, o := range doc.Nftables {
		if o.Rule == nil {
			continue
		}
		for _, e := range o.Rule.Expr {
			if c, ok := e["counter"]; ok {
				var n struct{ Packets int }
				if err := json.Unmarshal(c, &n); err != nil {
					t.Fatal(err)
				}
				return n.Packets
			}
		}
	}
	t.Fatalf("no counter in nft's ruleset:\n%s", out)
	return 0
}

func dropCount(t *testing.T, c collector.Collector, reason string) float64 {
	t.Helper()
	var e metrics.Emitter
	if err := c.(metrics.Source).Collect(&e); err != nil {
		t.Fatal(err)
	}
	v, _ := e.Sum("kscope_packet_drops_total", "reason", reason)
	return v
}

// TestNetfilterDropNetns: UDP packets to a port an nftables rule drops, sent
// over a veth pair between two namespaces of the test's own, are each one
// drop event with reason NETFILTER_DROP, the 5-tuple and the interface, and
// the per-reason counter and the rule's own counter agree with the number
// sent.
func TestNetfilterDropNetns(t *testing.T) {
	testutil.RequireBPF(t)
	testutil.Tool(t, "nft", "an nftables DROP rule")
	p := testutil.NewNetPair(t)
	const port = 9999
	rules := fmt.Sprintf(`table inet kscope_test {
	chain input {
		type filter hook input priority 0; policy accept;
		udp dport %d counter drop
	}
}`, port)
	cmd := exec.Command("ip", "netns", "exec", p.B, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("loading the nft rule: %v\n%s", err, out)
	}

	c, err := collector.New(drops.Name, collector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sink := testutil.NewCapture()
	if err := c.Start(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	before := dropCount(t, c, "NETFILTER_DROP")

	const sent = 7
	payload := []byte("kscope drop test")
	var sport int
	if err := testutil.In(p.A, func() error {
		conn, err := net.Dial("udp4", net.JoinHostPort(p.BAddr, fmt.Sprint(port)))
		if err != nil {
			return err
		}
		defer conn.Close()
		sport = conn.LocalAddr().(*net.UDPAddr).Port
		for range sent {
			if _, err := conn.Write(payload); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	ours := func() []*event.Dynamic {
		var out []*event.Dynamic
		for _, ev := range sink.Events() {
			d, ok := ev.(*event.Dynamic)
			if !ok || d.Kind() != drops.Kind {
				continue
			}
			m := fields(d)
			if m["reason"] == "NETFILTER_DROP" && m["dport"] == float64(port) && m["daddr"] == p.BAddr {
				out = append(out, d)
			}
		}
		return out
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(ours()) < sent || nftPackets(t, p.B) < sent {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %d drop events, nft counted %d; want %d", len(ours()), nftPackets(t, p.B), sent)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := nftPackets(t, p.B); n != sent {
		t.Errorf("nft's rule counted %d packets, want %d", n, sent)
	}
	evs := ours()
	if len(evs) != sent {
		t.Errorf("%d drop events, want %d", len(evs), sent)
	}
	want := map[string]any{
		"reason": "NETFILTER_DROP", "ifname": p.BName,
		"protocol": "ipv4", "l4": "udp", "saddr": p.AAddr, "sport": float64(sport),
		"daddr": p.BAddr, "dport": float64(port), "len": float64(20 + 8 + len(payload)),
	}
	for _, ev := range evs {
		m := fields(ev)
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %v (event %v)", k, m[k], v, m)
			}
		}
		// The kernel function that freed it: netfilter's hook or nftables'
		// chain, depending on the kernel's inlining.
		if loc, _ := m["location"].(string); !strings.HasPrefix(loc, "nf_") && !strings.HasPrefix(loc, "nft_") {
			t.Errorf("location %q, want a netfilter function", loc)
		}
		if ev.Type != "drop" {
			t.Errorf("type %q, want drop", ev.Type)
		}
	}
	if got := dropCount(t, c, "NETFILTER_DROP") - before; got != sent {
		t.Errorf("kscope_packet_drops_total{reason=NETFILTER_DROP} rose by %v, want %d", got, sent)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// fields decodes an event's own JSON fields.
func fields(ev event.Event) map[string]any {
	var m map[string]any
	b := event.AppendJSON(nil, ev)
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("%v: %s", err, b))
	}
	return m
}
