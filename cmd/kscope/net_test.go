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

func TestNetUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"net"}, "net needs a subcommand"},
		{[]string{"net", "bogus"}, `unknown subcommand "bogus"`},
		{[]string{"net", "drops", "extra"}, "takes no arguments"},
		{[]string{"net", "drops", "--pid", "1"}, "unknown flag: --pid"},
		{[]string{"net", "drops", "--buffer-size", "3M"}, "power of two"},
		{[]string{"net", "dns", "--timeout", "0s"}, "--timeout 0s: must be positive"},
		{[]string{"net", "dns", "--pid", "-5"}, "not a process id"},
		{[]string{"net", "dns", "--comm", "0123456789abcdef"}, "at most 15 bytes"},
		{[]string{"net", "flows", "--interval", "10ms"}, "--interval 10ms: at least 100ms"},
		{[]string{"net", "flows", "--top", "0"}, "--top 0: must be positive"},
		{[]string{"net", "flows", "--pid", "-1"}, "not a process id"},
		{[]string{"net", "flows", "--comm", "0123456789abcdef"}, "at most 15 bytes"},
		{[]string{"net", "flows", "x"}, "takes no arguments"},
	} {
		code, _, stderr := runCLI(tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.msg) {
			t.Errorf("kscope %s: exit %d, stderr %q; want 2 and %q", strings.Join(tt.args, " "), code, stderr, tt.msg)
		}
	}
	for _, args := range [][]string{{"net", "--help"}, {"net", "drops", "--help"}, {"net", "dns", "--help"}, {"net", "flows", "--help"}} {
		if code, stdout, stderr := runCLI(args...); code != 0 || !strings.Contains(stdout, "Usage:") {
			t.Errorf("kscope %s: exit %d, %q %q", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}
