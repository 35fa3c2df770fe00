package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// The 22 features in report order, as docs/doctor.md lists them.
var doctorFeatures = []string{
	"tracepoint", "raw_tracepoint", "tp_btf", "kprobe", "kretprobe", "kprobe_multi",
	"fentry", "fexit", "uprobe", "uretprobe", "uprobe_multi", "usdt",
	"perf_event_software", "perf_event_hardware", "ringbuf", "xdp", "tcx",
	"cgroup_skb", "cgroup_sock_addr", "lsm", "bpf_send_signal", "task_iter",
}

type doctorReport struct {
	Kernel     string          `json:"kernel"`
	BTF        bool            `json:"btf"`
	Privileges map[string]bool `json:"privileges"`
	Mounts     []struct {
		FS      string `json:"fs"`
		Path    string `json:"path"`
		Mounted bool   `json:"mounted"`
		Error   string `json:"error"`
	} `json:"mounts"`
	Features []struct {
		Name      string `json:"name"`
		Supported bool   `json:"supported"`
		Error     string `json:"error"`
		Fallback  string `json:"fallback"`
	} `json:"features"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
}

// parseReport decodes doctor's JSON strictly: no unknown fields, and
// exactly the documented top-level keys.
func parseReport(t *testing.T, out []byte) doctorReport {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(out, &keys); err != nil {
		t.Fatalf("doctor --json printed no JSON object: %v\n%s", err, out)
	}
	var got []string
	for k := range keys {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"btf", "features", "kernel", "mounts", "ok", "privileges", "reason"}
	if !slices.Equal(got, want) {
		t.Errorf("top-level keys: got %q, want %q", got, want)
	}
	var r doctorReport
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decoding doctor --json: %v\n%s", err, out)
	}
	for _, p := range []string{"root", "cap_bpf", "cap_perfmon", "cap_sys_admin"} {
		if _, ok := r.Privileges[p]; !ok {
			t.Errorf("privileges lack %q: %v", p, r.Privileges)
		}
	}
	return r
}

func TestDoctorJSON(t *testing.T) {
	testutil.RequireBPF(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"doctor", "--json"}, &stdout, &stderr)
	r := parseReport(t, stdout.Bytes())
	t.Logf("exit %d, stderr %q\n%s", code, stderr.String(), stdout.String())

	if r.Kernel == "" {
		t.Error("no kernel release")
	}
	if !r.Privileges["root"] && !r.Privileges["cap_sys_admin"] && !(r.Privileges["cap_bpf"] && r.Privileges["cap_perfmon"]) {
		t.Errorf("RequireBPF passed, yet doctor saw no privileges: %v", r.Privileges)
	}
	if len(r.Mounts) != 3 {
		t.Errorf("got %d mounts, want tracefs, debugfs and bpf", len(r.Mounts))
	}
	var names []string
	for _, f := range r.Features {
		names = append(names, f.Name)
		switch {
		case f.Supported && (f.Error != "" || f.Fallback != ""):
			t.Errorf("%s: supported, yet error %q, fallback %q", f.Name, f.Error, f.Fallback)
		case !f.Supported && (f.Error == "" || f.Fallback == ""):
			t.Errorf("%s: unsupported, with error %q, fallback %q", f.Name, f.Error, f.Fallback)
		}
	}
	if !slices.Equal(names, doctorFeatures) {
		t.Fatalf("features:\n got %q\nwant %q", names, doctorFeatures)
	}

	if r.OK {
		if code != exitOK || r.Reason != "" || stderr.Len() != 0 {
			t.Errorf("ok report, yet exit %d, reason %q, stderr %q", code, r.Reason, stderr.String())
		}
	} else {
		if code != exitFailure || r.Reason == "" || !strings.Contains(stderr.String(), "kscope: "+r.Reason) {
			t.Errorf("report not ok (%q), yet exit %d, stderr %q", r.Reason, code, stderr.String())
		}
	}
	// Where BPF works, so do tracepoints and ring buffers; so kscope runs
	// unless the kernel lacks BTF.
	if r.BTF && !r.OK {
		t.Errorf("kscope cannot run on a kernel with BTF: %s", r.Reason)
	}
}

func TestDoctorTable(t *testing.T) {
	testutil.RequireBPF(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"doctor"}, &stdout, &stderr)
	out := stdout.String()
	t.Logf("exit %d\n%s%s", code, out, stderr.String())
	if code != exitOK && code != exitFailure {
		t.Fatalf("exit %d", code)
	}
	for _, prefix := range []string{"kernel ", "btf ", "privileges ", "mount "} {
		if !strings.Contains(out, "\n"+prefix) && !strings.HasPrefix(out, prefix) {
			t.Errorf("no %q line", strings.TrimSpace(prefix))
		}
	}
	_, table, ok := strings.Cut(out, "\nFEATURE ")
	if !ok {
		t.Fatal("no feature table")
	}
	header, rows, _ := strings.Cut(table, "\n")
	if f := strings.Fields(header); !slices.Equal(f, []string{"SUPPORTED", "FALLBACK", "ERROR"}) {
		t.Errorf("header: FEATURE %s", header)
	}
	lines := strings.Split(rows, "\n")
	for i, name := range doctorFeatures {
		if i >= len(lines) || !strings.HasPrefix(lines[i], name+" ") {
			t.Errorf("row %d is not %s", i, name)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimRight(l, " ") != l {
			t.Errorf("trailing blanks: %q", l)
		}
	}
}

func TestDoctorUsage(t *testing.T) {
	for _, args := range [][]string{{"doctor", "--bogus"}, {"doctor", "extra"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %q", args, code, exitUsage, stderr.String())
		}
	}
}

// TestDoctorUnprivileged runs the real binary as nobody: doctor must still
// report the kernel, BTF and privileges, and exit 1 naming what is missing.
func TestDoctorUnprivileged(t *testing.T) {
	testutil.RequireRoot(t, "to switch to nobody")
	goTool := testutil.Tool(t, "go", "to build kscope")
	setpriv := testutil.Tool(t, "setpriv", "to drop privileges")
	dir := t.TempDir()
	bin := filepath.Join(dir, "kscope")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building kscope: %v\n%s", err, out)
	}
	// t.TempDir makes <tmp>/<test name><random>/<n>, both private to root.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	for _, asJSON := range []bool{false, true} {
		args := []string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", bin, "doctor"}
		if asJSON {
			args = append(args, "--json")
		}
		cmd := exec.Command(setpriv, args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		t.Logf("%s\nstdout:\n%s\nstderr:\n%s", cmd, stdout.String(), stderr.String())
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitFailure {
			t.Fatalf("exit: %v, want %d", err, exitFailure)
		}
		msg := stderr.String()
		for _, want := range []string{"kscope: needs root or CAP_BPF+CAP_PERFMON", "CAP_BPF", "CAP_PERFMON"} {
			if !strings.Contains(msg, want) {
				t.Errorf("stderr lacks %q", want)
			}
		}
		if asJSON {
			r := parseReport(t, stdout.Bytes())
			if r.Kernel == "" || r.OK || r.Privileges["root"] || len(r.Features) != 0 || !strings.Contains(r.Reason, "CAP_BPF") {
				t.Errorf("unprivileged report: %+v", r)
			}
			continue
		}
		out := stdout.String()
		for _, want := range []string{"kernel ", "btf ", "privileges  root no, CAP_BPF no, CAP_PERFMON no"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q", want)
			}
		}
		if strings.Contains(out, "FEATURE") {
			t.Error("unprivileged doctor printed a feature table")
		}
	}
}
