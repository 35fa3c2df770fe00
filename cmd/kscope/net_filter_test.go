package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/bpfx"
	nfc "github.com/kscope/kscope/internal/collector/netfilter"
	"github.com/kscope/kscope/internal/testutil"
)

// TestNetFilterCLI: a kscope process applies a file in the interface's
// namespace and exits; the filter stays, its rules count the test's
// datagrams in stats and list, and remove takes it away.
func TestNetFilterCLI(t *testing.T) {
	testutil.RequireBPF(t)
	p := testutil.NewNetPair(t)
	root := fmt.Sprintf("/sys/fs/bpf/kscope-cli-test-%d", os.Getpid())
	if err := os.MkdirAll(root, 0o700); err != nil {
		testutil.Skip(t, "bpffs", err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	file := filepath.Join(t.TempDir(), "filters.yaml")
	os.WriteFile(file, []byte(`filters:
  - name: edge
    interface: `+p.BName+`
    hook: tc-ingress
    default: allow
    mode: enforce
    rules:
      - {name: no-udp-from-lab, action: drop, source: [10.201.0.0/30], protocol: udp, ports: [9002]}
      - {name: dns-flood, action: rate-limit, protocol: udp, ports: [53], rate: 1000/s, burst: 200}
`), 0o600)
	var code int
	var stdout, stderr string
	inB := func(args ...string) {
		t.Helper()
		code, stdout, stderr = runCLI(append(args, "--pin-dir", root, "--netns", p.B)...)
	}
	// Applied by a kscope process that exits: the filter stays.
	out, err := exec.Command(kscopeBinary(t), "net", "filter", "apply", file, "--pin-dir", root, "--netns", p.B).CombinedOutput()
	code, stdout = 0, string(out)
	if err != nil {
		code = 1
	}
	attach := "tcx"
	if bpfx.ProbeFeature(bpfx.FeatTCX) != nil {
		attach = "clsact"
	}
	if code != 0 || !strings.Contains(stdout, "filter edge: 2 rules on "+p.BName+" tc-ingress ("+attach+"), default allow, enforce, program ") {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Cleanup(func() { testutil.In(p.B, func() error { return nfc.Remove(root, "edge") }) })

	var c *net.UDPConn
	if err := testutil.In(p.A, func() (err error) {
		c, err = net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP(p.BAddr), Port: 9002})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 9; i++ {
		if _, err := c.Write(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
	}
	var sts []nfc.Status
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		inB("net", "filter", "stats", "edge", "--json")
		if code != 0 {
			t.Fatalf("stats: exit %d: %s", code, stderr)
		}
		if err := json.Unmarshal([]byte(stdout), &sts); err != nil {
			t.Fatalf("stats --json: %v\n%s", err, stdout)
		}
		if len(sts) == 1 && len(sts[0].Rules) == 3 && sts[0].Rules[0].Dropped == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats: %s", stdout)
		}
	}
	r := sts[0].Rules[0]
	if r.Name != "no-udp-from-lab" || r.Action != "drop" || r.Packets != 9 || r.Bytes != 9*(14+20+8+10) || r.DroppedBytes != r.Bytes {
		t.Fatalf("rule %+v", r)
	}
	if r := sts[0].Rules[1]; r.Name != "dns-flood" || r.Action != "rate-limit" || r.Rate != 1000 || r.Burst != 200 || r.Packets != 0 {
		t.Fatalf("rule %+v", r)
	}
	inB("net", "filter", "stats")
	if code != 0 || !strings.Contains(stdout, "edge    no-udp-from-lab  drop                         9        468    9        468") {
		t.Fatalf("stats: exit %d\n%s%s", code, stdout, stderr)
	}
	inB("net", "filter", "list")
	if code != 0 || !strings.Contains(stdout, "edge  "+p.BName) || !strings.Contains(stdout, file) {
		t.Fatalf("list: exit %d\n%s%s", code, stdout, stderr)
	}
	inB("net", "filter", "remove")
	if code != 0 || stdout != "filter edge removed\n" {
		t.Fatalf("remove: exit %d\n%s%s", code, stdout, stderr)
	}
	inB("net", "filter", "list", "--json")
	if code != 0 || strings.TrimSpace(stdout) != "null" {
		t.Fatalf("list after remove: exit %d\n%s%s", code, stdout, stderr)
	}
	inB("net", "filter", "remove", "edge")
	if code != 1 || !strings.Contains(stderr, "no such filter: edge") {
		t.Fatalf("second remove: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestNetFilterUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("filters:\n  - name: x\n    interface: lo\n    rules:\n      - {action: drop, ports: [99999]}\n"), 0o600)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("filters:\n  - name: x\n    interface: lo\n"), 0o600)
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"net", "filter"}, 2, "net filter needs a subcommand"},
		{[]string{"net", "filter", "bogus"}, 2, `unknown subcommand "bogus"`},
		{[]string{"net", "filter", "apply"}, 2, "takes one filter file, got 0"},
		{[]string{"net", "filter", "apply", bad}, 2, bad + `:5:32: ports: "99999" is not a port`},
		{[]string{"net", "filter", "apply", filepath.Join(dir, "none.yaml")}, 1, "opening the filter file"},
		{[]string{"net", "filter", "apply", "--check", good}, 0, "filter x: 0 rules on lo xdp, default allow, enforce\n1 filters valid"},
		{[]string{"net", "filter", "stats", "a", "b"}, 2, "takes at most one filter name, got 2"},
	} {
		code, stdout, stderr := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(stdout+stderr, tt.out) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", tt.args, code, tt.code, tt.out, stdout, stderr)
		}
	}
}
