package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// TestNetFlowsNetns: `kscope net flows --json --pid PID --count 2` prints
// both ends of the test's own TCP exchange of K bytes each way between two
// namespaces, once each when they end, with K bytes each way.
func TestNetFlowsNetns(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	const k = 123457
	var ln net.Listener
	var serverAddr string
	served := make(chan error, 1)
	// The server listens once the collector is attached: a socket made
	// before has no known process.
	listen := func() error {
		if err := testutil.In(p.B, func() (err error) {
			var lc net.ListenConfig
			lc.SetMultipathTCP(false) // the segments on the wire are TCP's
			ln, err = lc.Listen(context.Background(), "tcp4", net.JoinHostPort(p.BAddr, "0"))
			return err
		}); err != nil {
			return err
		}
		serverAddr = ln.Addr().String()
		go func() {
			defer ln.Close()
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			defer c.Close()
			buf := make([]byte, k)
			if _, err = io.ReadFull(c, buf); err == nil {
				_, err = c.Write(buf)
			}
			served <- err
		}()
		return nil
	}
	var clientAddr string
	exchange := func() {
		if err := listen(); err != nil {
			t.Error(err)
			return
		}
		if err := testutil.In(p.A, func() error {
			var d net.Dialer
			d.SetMultipathTCP(false)
			c, err := d.Dial("tcp4", serverAddr)
			if err != nil {
				return err
			}
			defer c.Close()
			clientAddr = c.LocalAddr().String()
			buf := make([]byte, k)
			if _, err := c.Write(buf); err != nil {
				return err
			}
			_, err = io.ReadFull(c, buf)
			return err
		}); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Error(err)
		}
	}
	code, stdout, stderr := runCLIThen(exchange, "net", "flows", "--json", "--pid", strconv.Itoa(os.Getpid()), "--count", "2", "--interval", "200ms", "--duration", "2m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	ended := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		if ev["type"] != "flow" || ev["pid"] != float64(os.Getpid()) {
			t.Errorf("event %v", ev)
		}
		if _, ok := ev["end"]; ok {
			local := net.JoinHostPort(ev["local_addr"].(string), strconv.Itoa(int(ev["local_port"].(float64))))
			if ended[local] != nil {
				t.Errorf("flow %s ended twice", local)
			}
			ended[local] = ev
		}
	}
	for _, side := range []struct{ local, remote, dir string }{
		{clientAddr, serverAddr, "out"},
		{serverAddr, clientAddr, "in"},
	} {
		ev := ended[side.local]
		if ev == nil {
			t.Errorf("no ended flow from %s in:\n%s", side.local, stdout)
			continue
		}
		remote := net.JoinHostPort(ev["remote_addr"].(string), strconv.Itoa(int(ev["remote_port"].(float64))))
		if remote != side.remote || ev["proto"] != "tcp" || ev["direction"] != side.dir || ev["end"] != "closed" ||
			ev["state"] != "CLOSE" || ev["bytes_sent"] != float64(k) || ev["bytes_received"] != float64(k) {
			t.Errorf("flow %s: %v", side.local, ev)
		}
	}
	if !strings.Contains(stderr, "2 ended flows shown, 0 packets untracked (flow map full), ") {
		t.Errorf("no summary line: %s", stderr)
	}
}
