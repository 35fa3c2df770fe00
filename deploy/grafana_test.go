package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/kscope/kscope/internal/testutil"
)

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name     string `json:"name"`
			AllValue string `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, _ := filepath.Glob("grafana/*.json")
	if len(files) == 0 {
		t.Fatal("no dashboards in grafana/")
	}
	out := map[string]dashboard{}
	uids := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q, title %q, %d panels", f, d.UID, d.Title, len(d.Panels))
		}
		if other, ok := uids[d.UID]; ok {
			t.Errorf("%s and %s share the uid %s", f, other, d.UID)
		}
		uids[d.UID] = f
		out[f] = d
	}
	return out
}

// grafanaVars stands in for what Grafana puts in a query: its interval
// macros and each template variable's "All" value.
func grafanaVars(d dashboard) *strings.Replacer {
	pairs := []string{"$__rate_interval", "1m", "$__range", "10m", "$__interval", "15s"}
	for _, v := range d.Templating.List {
		if v.AllValue != "" {
			pairs = append(pairs, "$"+v.Name, v.AllValue)
		}
	}
	return strings.NewReplacer(pairs...)
}

// Every panel's every query answers with at least one series from a live
// agent on this host while it works: no query errors, none names a
// metric or label the agent does not have.
func TestDashboardQueriesAnswer(t *testing.T) {
	testutil.RequireRoot(t, "running the agent")
	testutil.RequireBPF(t)
	dashboards := readDashboards(t)

	bin := filepath.Join(t.TempDir(), "kscope")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/kscope").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The default collectors, and the ones the network and security
	// dashboards read: flows, drops and DNS, a policy that alerts on
	// every exec of false(1), the shipped alert rules evaluated each
	// second.
	dir := t.TempDir()
	falseBin, err := exec.LookPath("false")
	if err != nil {
		t.Fatal(err)
	}
	falseBin, _ = filepath.EvalSymlinks(falseBin)
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("rules:\n  - name: false-runs\n    severity: low\n    on: exec\n    match:\n      binary: {path: ["+falseBin+"]}\n    action: alert\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs("../rules/kscope.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "kscope.yml")
	conf := "collectors:\n  flows: true\n  drops: true\n  dns: true\npolicies: [" + policy + "]\nrule_files: [" + rules + "]\nevaluation_interval: 1s\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := exec.CommandContext(ctx, bin, "agent", "--config", cfg, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--interval", "1s")
	stderr, err := agent.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer agent.Wait()
	defer cancel()
	base := agentURL(t, stderr)

	// Work for every panel: processes that start, fail and exit, file
	// writes that reach the disk, TCP over loopback.
	stop := make(chan struct{})
	defer close(stop)
	dns := dnsServer(t)
	go workload(t, stop, dns)

	deadline := time.Now().Add(3 * time.Minute)
	for file, d := range dashboards {
		vars := grafanaVars(d)
		for _, p := range d.Panels {
			for _, target := range p.Targets {
				expr := vars.Replace(target.Expr)
				if strings.Contains(expr, "$") {
					t.Errorf("%s: %q: a variable Grafana would not fill: %s", file, p.Title, expr)
					continue
				}
				for {
					n, err := query(base, expr)
					if err != nil {
						t.Errorf("%s: %q: %s: %v", file, p.Title, expr, err)
						break
					}
					if n > 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("%s: %q: %s: no series", file, p.Title, expr)
						break
					}
					time.Sleep(time.Second)
				}
			}
		}
	}
}

var addrRE = regexp.MustCompile(`addr=(http://\S+)`)

// agentURL reads the agent's log until it says where it serves, then
// keeps draining it.
func agentURL(t *testing.T, stderr io.Reader) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil && strings.Contains(sc.Text(), "serving") {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			t.Fatal("the agent exited before serving")
		}
		return u
	case <-time.After(5 * time.Minute):
		t.Fatal("the agent did not serve within 5 minutes")
	}
	return ""
}

// query runs an instant query and returns how many series answer.
func query(base, expr string) (int, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", r.Status, r.Error)
	}
	return len(r.Data.Result), nil
}

// dnsServer answers A queries on 127.0.0.1:53, where the dns collector
// looks, and returns a client of it.
func dnsServer(t *testing.T) func() {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:53")
	if err != nil {
		t.Fatalf("the DNS server for the network dashboard needs 127.0.0.1:53: %v", err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 9)})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	c := new(dns.Client)
	return func() {
		m := new(dns.Msg)
		m.SetQuestion("dashboard.kscope.test.", dns.TypeA)
		c.Exchange(m, "127.0.0.1:53")
	}
}

func workload(t *testing.T, stop <-chan struct{}, lookup func()) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Error(err)
		return
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	dir, err := os.MkdirTemp("/var/tmp", "kscope-dash-")
	if err != nil {
		t.Error(err)
		return
	}
	defer os.RemoveAll(dir)
	buf := make([]byte, 1<<20)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		exec.Command("true").Run()
		lookup()
		// A datagram to a port no one listens on: a drop (no socket).
		if c, err := net.Dial("udp4", "127.0.0.1:9"); err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
		exec.Command("false").Run()
		exec.Command(filepath.Join(dir, "missing")).Run()
		if c, err := net.Dial("tcp4", ln.Addr().String()); err == nil {
			c.Write(buf[:4096])
			c.Close()
		}
		f, err := os.Create(filepath.Join(dir, "f"))
		if err == nil {
			f.Write(buf)
			f.Sync()
			f.Close()
		}
	}
}
