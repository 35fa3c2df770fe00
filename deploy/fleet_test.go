package deploy

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// forward accepts on addr and copies each connection to and from to.
func forward(t *testing.T, addr, to string) string {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp4", to)
				if err != nil {
					return
				}
				defer b.Close()
				go io.Copy(b, c)
				io.Copy(c, b)
			}()
		}
	}()
	return ln.Addr().String()
}

// A fleet on one machine: three agents, each in a network namespace of
// its own (a host of its own, as far as its network goes: each listens on
// its own 127.0.0.1:9464), remote-write to one Prometheus through a veth
// to the host; Prometheus then answers for each instance apart. The test
// logs each agent's series and samples per second: docs/scale.md's
// numbers come from this run at the default collectors.
func TestFleetNetns(t *testing.T) {
	testutil.RequireRoot(t, "creating network namespaces")
	testutil.RequireBPF(t)
	testutil.Tool(t, "ip", "creating network namespaces")
	nsenter := testutil.Tool(t, "nsenter", "running an agent in a network namespace")
	prom := testutil.StartPrometheus(t)
	promAddr := strings.TrimSuffix(strings.TrimPrefix(prom.URL(), "http://"), "/api/v1/write")

	bin := filepath.Join(t.TempDir(), "kscope")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/kscope").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const hosts = 3
	id := strconv.Itoa(os.Getpid() % 100000)
	for i := 1; i <= hosts; i++ {
		ns := fmt.Sprintf("kscope-fleet-%s-%d", id, i)
		hostEnd, nsEnd := fmt.Sprintf("kfh%s-%d", id, i), fmt.Sprintf("kfn%s-%d", id, i)
		hostIP, nsIP := fmt.Sprintf("10.202.%d.1", i), fmt.Sprintf("10.202.%d.2", i)
		testutil.Run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		testutil.Run(t, "ip", "link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd, "netns", ns)
		t.Cleanup(func() { exec.Command("ip", "link", "del", hostEnd).Run() })
		testutil.Run(t, "ip", "addr", "add", hostIP+"/30", "dev", hostEnd)
		testutil.Run(t, "ip", "link", "set", hostEnd, "up")
		testutil.Run(t, "ip", "-n", ns, "addr", "add", nsIP+"/30", "dev", nsEnd)
		testutil.Run(t, "ip", "-n", ns, "link", "set", nsEnd, "up")
		testutil.Run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		// Prometheus, as this host sees it: the host's end of its veth.
		remote := forward(t, hostIP+":0", promAddr)

		dir := t.TempDir()
		cfg := filepath.Join(dir, "kscope.yml")
		conf := fmt.Sprintf(`listen: 127.0.0.1:9464
interval: 2s
external_labels:
  instance: host-%d
  cluster: fleet-test
remote_write:
  - url: http://%s/api/v1/write
    name: central
`, i, remote)
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		agent := exec.CommandContext(ctx, nsenter, "--net=/run/netns/"+ns, bin, "agent", "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
		log := &testutil.Output{}
		agent.Stdout, agent.Stderr = log, log
		if err := agent.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			agent.Process.Signal(os.Interrupt)
			agent.Wait()
			if t.Failed() {
				t.Logf("agent host-%d:\n%s", i, log.String())
			}
		})
	}

	// Every instance arrives, with its own series; the cluster label
	// is on all of them.
	deadline := time.Now().Add(5 * time.Minute)
	var last string
	for {
		got, err := prom.Series(`kscope_self_tsdb_head_series{cluster="fleet-test"}`, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for i := 1; i <= hosts; i++ {
			for labels, pts := range got {
				if strings.Contains(labels, fmt.Sprintf(`instance="host-%d"`, i)) && len(pts) >= 3 {
					seen++
					break
				}
			}
		}
		if seen == hosts {
			break
		}
		last = fmt.Sprint(got)
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has %d of %d instances after 5 minutes: %s", seen, hosts, last)
		}
		time.Sleep(time.Second)
	}

	// What one host costs its Prometheus: series in memory and samples
	// per second (the interval is 2 s here; the default 10 s sends a
	// fifth of these samples).
	for i := 1; i <= hosts; i++ {
		sel := fmt.Sprintf(`{instance="host-%d"}`, i)
		series, err := prom.Series(`kscope_self_tsdb_head_series`+sel, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		appended, err := prom.Series(`kscope_self_tsdb_samples_appended_total`+sel, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, pts := range series {
			t.Logf("host-%d: %s series in its head", i, pts[len(pts)-1].V)
		}
		for _, pts := range appended {
			if n := len(pts); n >= 2 {
				first, _ := strconv.ParseFloat(pts[0].V, 64)
				lastV, _ := strconv.ParseFloat(pts[n-1].V, 64)
				t.Logf("host-%d: %.0f samples/s appended at a 2 s interval", i, (lastV-first)/(float64(pts[n-1].T-pts[0].T)/1000))
			}
		}
	}
}
