package main

import (
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/kscope/kscope/internal/testutil"
)

// TestNetDNSNetns: `kscope net dns --json --pid PID --count 1` prints the
// test's own query, to a server in a namespace of its own, with its answer.
func TestNetDNSNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	var pc net.PacketConn
	if err := testutil.In(p.B, func() (err error) {
		pc, err = net.ListenPacket("udp4", net.JoinHostPort(p.BAddr, "53"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		rr, _ := mdns.NewRR(r.Question[0].Name + " 60 IN A 192.0.2.7")
		m.Answer = append(m.Answer, rr)
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })

	query := func() {
		if err := testutil.In(p.A, func() error {
			m := new(mdns.Msg)
			m.SetQuestion("cli.example.test.", mdns.TypeA)
			c := &mdns.Client{Net: "udp"}
			_, _, err := c.Exchange(m, net.JoinHostPort(p.BAddr, "53"))
			return err
		}); err != nil {
			t.Error(err)
		}
	}
	code, stdout, stderr := runCLIThen(query, "net", "dns", "--json", "--pid", strconv.Itoa(os.Getpid()), "--count", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &ev); err != nil {
		t.Fatalf("not one JSON object: %q: %v", stdout, err)
	}
	answers, _ := ev["answers"].([]any)
	if ev["type"] != "dns" || ev["qname"] != "cli.example.test." || ev["qtype"] != "A" || ev["rcode"] != "NOERROR" ||
		len(answers) != 1 || answers[0] != "192.0.2.7" || ev["server"] != p.BAddr || ev["pid"] != float64(os.Getpid()) {
		t.Errorf("event %v", ev)
	}
	if !strings.Contains(stderr, "1 events shown, 0 lost (buffer full), ") {
		t.Errorf("no summary line: %s", stderr)
	}
}
