package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePolicy(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const cliPolicy = `rules:
  - name: no-tmp-exec
    severity: high
    on: exec
    match:
      binary: {prefix: [/tmp/, /dev/shm/]}
      user: {not_root: true}
    action: kill
  - name: no-metadata
    on: connect
    match:
      destination: {cidr: [169.254.169.254/32], ports: [80, 443], protocol: tcp}
    action: deny
    mode: audit
`

func TestPolicyCheck(t *testing.T) {
	p := writePolicy(t, cliPolicy)
	code, out, stderr := runCLI("policy", "check", p)
	if code != exitOK || !strings.Contains(out, p+":2:5: no-tmp-exec: on exec, runs in kernel; action kill") ||
		!strings.Contains(out, p+":9:5: no-metadata: on connect, runs in kernel; action deny") ||
		!strings.Contains(out, "; audit: reports what") || !strings.HasSuffix(out, "2 rules valid\n") {
		t.Errorf("code %d\n%s\n%s", code, out, stderr)
	}
	bad := writePolicy(t, "rules:\n  - name: a\n    on: connect\n    action: deny\n    match: {destination: {cidr: [300.0.0.0/8]}}\n  - name: b\n    on: exec\n    action: alert\n    match: {binary: {glob: [\"/[\"]}}\n")
	code, out, stderr = runCLI("policy", "check", bad)
	if code != exitUsage || out != "" || !strings.Contains(stderr, bad+`:5:34: match.destination.cidr: "300.0.0.0/8" is not a CIDR`) ||
		!strings.Contains(stderr, bad+`:9:29: match.binary.glob: "/[": bad glob`) {
		t.Errorf("bad policy: code %d\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := runCLI("policy", "check", filepath.Join(t.TempDir(), "none.yaml")); code != exitUsage || !strings.Contains(stderr, "none.yaml: cannot read") {
		t.Errorf("missing file: %d %s", code, stderr)
	}
}

func TestPolicyTest(t *testing.T) {
	p := writePolicy(t, cliPolicy)
	for _, tc := range []struct {
		event string
		code  int
		out   string
	}{
		{`{"type":"exec","uid":1000,"filename":"/tmp/x"}`, exitOK, "no-tmp-exec: match: kill (enforce, high)\n"},
		{`{"type":"exec","uid":0,"filename":"/tmp/x"}`, exitFailure, "no rule matches\n"},
		{`{"type":"connect","uid":0,"daddr":"169.254.169.254","dport":443,"proto":"tcp"}`, exitOK, "no-metadata: match: deny (audit, medium)\n"},
		{`{"type":"connect","uid":0,"daddr":"169.254.169.254","dport":22,"proto":"tcp"}`, exitFailure, "no rule matches\n"},
		{`{"type":"ptrace","uid":0}`, exitUsage, ""},
		{`{"type":"exec"}`, exitUsage, ""},
		{`{`, exitUsage, ""},
	} {
		code, out, stderr := runCLI("policy", "test", p, "--event", tc.event)
		if code != tc.code || out != tc.out {
			t.Errorf("%s: code %d, want %d; out %q, want %q; stderr %s", tc.event, code, tc.code, out, tc.out, stderr)
		}
	}
}
