package deploy

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

var unknownCap = regexp.MustCompile(`unknown capability: "CAP_([A-Z_]+)"`)

// capNumbers are the numbers of the capabilities the chart adds.
var capNumbers = map[string]uint{
	"DAC_READ_SEARCH": 2, "NET_ADMIN": 12, "SYS_PTRACE": 19, "SYS_ADMIN": 21,
	"SYS_RESOURCE": 24, "SYSLOG": 34, "PERFMON": 38, "BPF": 39,
}

// ownCap reports whether this process's bounding set holds the capability:
// a container cannot be given one its runtime does not have.
func ownCap(t *testing.T, name string) bool {
	t.Helper()
	n, ok := capNumbers[name]
	if !ok {
		t.Fatalf("the chart adds CAP_%s, which this test does not know", name)
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CapBnd:\s+([0-9a-f]+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no CapBnd in /proc/self/status")
	}
	set, err := strconv.ParseUint(string(m[1]), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return set&(1<<n) != 0
}

// chartCaps reads the capabilities the Helm chart adds by default.
func chartCaps(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("helm/kscope/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^capabilities: \[([A-Z_, ]+)\]$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("values.yaml has no capabilities: [...] line")
	}
	var caps []string
	for _, c := range strings.Split(string(m[1]), ",") {
		caps = append(caps, strings.TrimSpace(c))
	}
	return caps
}

// The image holds the release binary. Run as the chart runs it (the
// node's processes and network, only the chart's capabilities, no seccomp
// profile, a read-only root, the chart's host mounts), the agent attaches
// the same collectors as root does on the host.
func TestImageDocker(t *testing.T) {
	testutil.RequireBPF(t)
	docker := testutil.Docker(t)
	dir, version := buildRelease(t)

	ctx := t.TempDir()
	bin, err := os.ReadFile(filepath.Join(dir, "kscope_linux_amd64"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "kscope_linux_amd64"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("kscope-test-image:%d", os.Getpid())
	if out, err := exec.Command(docker, "build", "-q", "-t", tag, ctx).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(docker, "rmi", "-f", tag).Run() })

	out, err := exec.Command(docker, "run", "--rm", "--network", "none", tag, "version").CombinedOutput()
	want := regexp.MustCompile(`^kscope v` + regexp.QuoteMeta(version) + ` \(\S+, go\S+ linux/amd64\)\n$`)
	if err != nil || !want.Match(out) {
		t.Fatalf("docker run %s version: %v: %q, want %v", tag, err, out, want)
	}

	// A runtime older than CAP_BPF and CAP_PERFMON (Docker 20.10) refuses
	// them: run without those it does not know. Fewer capabilities
	// attaching the same collectors shows the chart's set does too.
	caps := slices.DeleteFunc(chartCaps(t), func(c string) bool {
		if !ownCap(t, c) {
			t.Logf("this host's capability bounding set lacks CAP_%s: running without it", c)
			return true
		}
		return false
	})
	var inImage []byte
	for {
		args := []string{"run", "--rm", "--pid", "host", "--network", "host", "--cap-drop", "ALL"}
		for _, c := range caps {
			args = append(args, "--cap-add", c)
		}
		args = append(args, "--security-opt", "seccomp=unconfined", "--read-only", "--tmpfs", "/tmp",
			"-v", "/sys:/sys:ro", "-v", "/sys/fs/bpf:/sys/fs/bpf", "-v", "/sys/fs/cgroup:/sys/fs/cgroup",
			"-v", "/sys/kernel/tracing:/sys/kernel/tracing", "-v", t.TempDir()+":/var/lib/kscope",
			tag, "agent", "--check", "--data-dir", "/var/lib/kscope")
		inImage, err = exec.Command(docker, args...).CombinedOutput()
		if m := unknownCap.FindSubmatch(inImage); err != nil && m != nil && slices.Contains(caps, string(m[1])) {
			t.Logf("this Docker does not know CAP_%s: running without it", m[1])
			caps = slices.DeleteFunc(caps, func(c string) bool { return c == string(m[1]) })
			continue
		}
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, inImage)
		}
		break
	}
	onHost, err := exec.Command(filepath.Join(dir, "kscope_linux_amd64"), "agent", "--check", "--data-dir", t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("agent --check on the host: %v\n%s", err, onHost)
	}
	if got, want := statuses(string(inImage)), statuses(string(onHost)); !maps.Equal(got, want) {
		t.Errorf("agent --check in the image, as the chart runs it:\n%s\non the host as root:\n%s", inImage, onHost)
	}
}
