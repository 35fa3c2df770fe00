package bpfx_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/testutil"
)

// The features in report order, as docs/doctor.md lists them.
var wantFeatures = []string{
	"tracepoint", "raw_tracepoint", "tp_btf", "kprobe", "kretprobe", "kprobe_multi",
	"fentry", "fexit", "uprobe", "uretprobe", "uprobe_multi", "usdt",
	"perf_event_software", "perf_event_hardware", "ringbuf", "xdp", "tcx",
	"cgroup_skb", "cgroup_sock_addr", "lsm", "bpf_send_signal", "task_iter",
}

// The fallback chains of docs/doctor.md.
var wantChains = map[string][]string{
	"tracepoint":          {"raw_tracepoint"},
	"raw_tracepoint":      {"tracepoint"},
	"tp_btf":              {"raw_tracepoint", "tracepoint"},
	"kprobe":              {"fentry", "tracepoint"},
	"kretprobe":           {"fexit", "tracepoint"},
	"kprobe_multi":        {"kprobe", "fentry"},
	"fentry":              {"kprobe", "tracepoint"},
	"fexit":               {"kretprobe", "tracepoint"},
	"uprobe":              nil,
	"uretprobe":           {"uprobe"},
	"uprobe_multi":        {"uprobe"},
	"usdt":                {"uprobe"},
	"perf_event_software": nil,
	"perf_event_hardware": {"perf_event_software"},
	"ringbuf":             nil,
	"xdp":                 {"tcx"},
	"tcx":                 {"cgroup_skb"},
	"cgroup_skb":          {"tcx"},
	"cgroup_sock_addr":    {"tracepoint"},
	"lsm":                 {"tracepoint"},
	"bpf_send_signal":     nil,
	"task_iter":           {"procfs"},
}

func TestFeatureTable(t *testing.T) {
	if got := bpfx.FeatureNames(); !slices.Equal(got, wantFeatures) {
		t.Fatalf("features:\n got %q\nwant %q", got, wantFeatures)
	}
	for _, name := range wantFeatures {
		if got := bpfx.Fallbacks(name); !slices.Equal(got, wantChains[name]) {
			t.Errorf("fallbacks of %s: got %q, want %q", name, got, wantChains[name])
		}
	}
}

func TestFallback(t *testing.T) {
	only := func(names ...string) func(string) bool {
		return func(f string) bool { return slices.Contains(names, f) }
	}
	for _, tc := range []struct {
		feature   string
		supported func(string) bool
		want      string
	}{
		{"kprobe", only("fentry", "tracepoint"), "fentry"},
		{"kprobe", only("tracepoint"), "tracepoint"},
		{"kprobe", only(), "none"},
		{"kprobe_multi", only("fentry"), "fentry"},
		{"tp_btf", only("tracepoint"), "tracepoint"},
		{"uprobe", only("uprobe", "tracepoint"), "none"},
		{"perf_event_hardware", only("perf_event_software"), "perf_event_software"},
		{"task_iter", only(), "procfs"},
		{"no_such_feature", only("tracepoint"), "none"},
	} {
		if got := bpfx.Fallback(tc.feature, tc.supported); got != tc.want {
			t.Errorf("Fallback(%s) = %q, want %q", tc.feature, got, tc.want)
		}
	}
}

func TestProbeFeatureUnknown(t *testing.T) {
	if err := bpfx.ProbeFeature("no_such_feature"); err == nil {
		t.Fatal("probing an unknown feature succeeded")
	}
}

// envList reads a comma-separated list of feature names from the
// environment and fails the test on a name that is not a feature.
func envList(t *testing.T, key string) []string {
	t.Helper()
	var out []string
	for _, f := range strings.Split(os.Getenv(key), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !slices.Contains(wantFeatures, f) {
			t.Fatalf("%s: %q is not a feature", key, f)
		}
		out = append(out, f)
	}
	return out
}

// TestProbeFeatures runs every probe, checks the result's shape and, when
// KSCOPE_EXPECT_SUPPORTED / KSCOPE_EXPECT_UNSUPPORTED list features, what
// this kernel is known to do. It also checks the probes leave nothing
// behind: file descriptors, cgroups, mounts.
func TestProbeFeatures(t *testing.T) {
	testutil.RequireBPF(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The probes' temporary directories (a cgroup2 mount point where
	// cgroup2 is not mounted) go to a directory of this test's own: other
	// packages' tests, running beside this one, mount and make cgroups
	// too, so only what this process makes is checked.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ours := func(mountinfo string) (lines []string) {
		for _, l := range strings.Split(mountinfo, "\n") {
			if strings.Contains(l, tmp) {
				lines = append(lines, l)
			}
		}
		return lines
	}
	// The first run also fills cilium/ebpf's caches (kernel BTF, its own
	// feature probes), which the leak check must not count.
	first := bpfx.ProbeFeatures(ctx)
	fds := openFDs(t)
	start := time.Now()
	results := bpfx.ProbeFeatures(ctx)
	took := time.Since(start)

	var table strings.Builder
	var yes, no []string
	for _, r := range results {
		fmt.Fprintf(&table, "  %-20s %-5v %-20s %s\n", r.Name, r.Supported, r.Fallback, r.Error)
		if r.Supported {
			yes = append(yes, r.Name)
		} else {
			no = append(no, r.Name)
		}
	}
	t.Logf("probed in %v:\n%s", took.Round(time.Millisecond), table.String())
	// One greppable line for scripts/test-vm.sh's summary.
	t.Logf("kscope-features: supported=%s unsupported=%s", strings.Join(yes, ","), strings.Join(no, ","))

	names := make([]string, len(results))
	for i, r := range results {
		names[i] = r.Name
		switch {
		case r.Supported && (r.Error != "" || r.Fallback != ""):
			t.Errorf("%s: supported, yet error %q, fallback %q", r.Name, r.Error, r.Fallback)
		case !r.Supported && r.Error == "":
			t.Errorf("%s: unsupported without an error", r.Name)
		case !r.Supported && r.Fallback != "none" && !slices.Contains(wantChains[r.Name], r.Fallback):
			t.Errorf("%s: fallback %q is not in its chain %q", r.Name, r.Fallback, wantChains[r.Name])
		}
		if first[i].Supported != r.Supported {
			t.Errorf("%s: supported %v on the first run, %v on the second", r.Name, first[i].Supported, r.Supported)
		}
	}
	if !slices.Equal(names, wantFeatures) {
		t.Fatalf("features:\n got %q\nwant %q", names, wantFeatures)
	}
	supported := func(name string) bool { return slices.Contains(yes, name) }
	for _, r := range results {
		if !r.Supported {
			if want := bpfx.Fallback(r.Name, supported); r.Fallback != want {
				t.Errorf("%s: fallback %q, want %q", r.Name, r.Fallback, want)
			}
		}
	}

	// kscope cannot run without these: they must work wherever BPF does.
	for _, name := range []string{"tracepoint", "ringbuf"} {
		if !supported(name) {
			t.Errorf("%s is not supported: %s", name, errorOf(results, name))
		}
	}
	for _, name := range envList(t, "KSCOPE_EXPECT_SUPPORTED") {
		if !supported(name) {
			t.Errorf("%s: expected supported, got: %s", name, errorOf(results, name))
		}
	}
	for _, name := range envList(t, "KSCOPE_EXPECT_UNSUPPORTED") {
		if supported(name) {
			t.Errorf("%s: expected unsupported, but it works", name)
		}
	}

	if leaked := diff(openFDs(t), fds); len(leaked) > 0 {
		t.Errorf("probes leaked file descriptors: %q", leaked)
	}
	if left := ours(readFile(t, "/proc/self/mountinfo")); len(left) > 0 {
		t.Errorf("probes left mounts behind: %q", left)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("probes left temporary directories behind: %v", left)
	}
	mine := "kscope-probe-" + strconv.Itoa(os.Getpid()) + "-*"
	for _, pattern := range []string{"/sys/fs/cgroup/" + mine, "/sys/fs/cgroup/*/" + mine} {
		if left, _ := filepath.Glob(pattern); len(left) > 0 {
			t.Errorf("probes left cgroups behind: %q", left)
		}
	}
	if took > 2*time.Second {
		t.Logf("warning: probing took %v, more than the 2 s doctor allows itself on real hardware", took)
	}

	// Each probe alone must agree with the concurrent run: a probe that only
	// works, or only fails, beside the others is a bug.
	for _, r := range results {
		t.Run(r.Name, func(t *testing.T) {
			err := bpfx.ProbeFeature(r.Name)
			if (err == nil) != r.Supported {
				t.Errorf("alone: %v; concurrently: supported=%v %s", err, r.Supported, r.Error)
			}
		})
	}
}

func errorOf(results []bpfx.FeatureResult, name string) string {
	for _, r := range results {
		if r.Name == name {
			return r.Error
		}
	}
	return "not probed"
}

// openFDs lists this process's open file descriptors as "fd -> target".
func openFDs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the directory's own descriptor, closed by now
		}
		out = append(out, e.Name()+" -> "+target)
	}
	return out
}

// diff returns what is in a but not in b.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
