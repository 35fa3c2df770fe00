package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/store"
	"github.com/kscope/kscope/internal/testutil"
)

// spinnerSrc runs until its stdin closes, then exits 3. It spins (a
// non-blocking read in a loop) so that it ranks among the busiest
// processes and gets per-process series of its own.
const spinnerSrc = `#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
int main(void) {
	char b[64];
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	for (;;) {
		ssize_t n = read(0, b, sizeof b);
		if (n == 0) return 3;
		if (n < 0 && errno != EAGAIN) return 4;
	}
}
`

// A process in a Docker container has its container's id, name and image
// on its exec and exit events and on its per-process series; a process on
// the host has none of them.
func TestContainerEnrichmentDocker(t *testing.T) {
	testutil.RequireBPF(t)
	docker := testutil.Docker(t)
	bin := testutil.BuildC(t, "cc", spinnerSrc, "-static", "-O2")
	image := testutil.UniqueName("kscope-test-agent") + ":1"
	testutil.DockerImage(t, docker, image, map[string]string{"/spin": bin})
	name := testutil.UniqueName("kscope-agent")
	testutil.DockerRemove(t, docker, name)

	a, err := Start(context.Background(), testConfig(t, "exec", "exit", "process"), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, st := range a.Statuses() {
		if st.Err != nil {
			t.Fatalf("statuses %+v", a.Statuses())
		}
	}

	run := exec.Command(docker, "run", "-i", "--rm", "--network", "none", "--name", name, image, "/spin")
	stdin, err := run.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); run.Wait() }()
	pid := containerPID(t, docker, name)
	id := testutil.DockerInspect(t, docker, name, "{{.Id}}")
	host := exec.Command("true")
	if err := host.Run(); err != nil {
		t.Fatal(err)
	}

	// the series: two collections an interval apart while it runs
	switched(t, pid)
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for range 2 {
		<-ticker.C
		ingest(t, a, 1)
	}
	p := strconv.Itoa(pid)
	r := query(t, a, `kscope_process_cpu_seconds_total{pid="`+p+`"}`)
	if len(r) != 1 {
		t.Fatalf("series of container process %s: %+v", p, r)
	}
	m := r[0].Metric
	if m["container_id"] != id || m["container_name"] != name || m["image"] != image || m["comm"] != "spin" {
		t.Errorf("series labels %v, want container_id=%s container_name=%s image=%s", m, id, name, image)
	}
	for _, l := range []string{"pod", "namespace", "systemd_unit"} {
		if v, ok := m[l]; ok {
			t.Errorf("series label %s=%q on a plain Docker container", l, v)
		}
	}

	stdin.Close()
	if err := run.Wait(); run.ProcessState.ExitCode() != 3 {
		t.Fatalf("the container exited with %v, want status 3", err)
	}
	type fields struct {
		Type          string `json:"type"`
		Filename      string `json:"filename"`
		ExitCode      *int   `json:"exit_code"`
		ContainerID   string `json:"container_id"`
		ContainerName string `json:"container_name"`
		Image         string `json:"image"`
	}
	evs := waitEvents(t, a, store.Query{PID: uint32(pid), Match: []string{"type=~exec|exit"}}, 2)
	for _, raw := range evs {
		var f fields
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		if f.ContainerID != id || f.ContainerName != name || f.Image != image {
			t.Errorf("%s event without its container's fields: %s", f.Type, raw)
		}
		switch {
		case f.Type == "exec" && f.Filename != "/spin", f.Type == "exit" && (f.ExitCode == nil || *f.ExitCode != 3):
			t.Errorf("unexpected event %s", raw)
		}
		for _, k := range []string{`"pod"`, `"namespace"`, `"systemd_unit"`} {
			if strings.Contains(string(raw), k) {
				t.Errorf("%s on a plain Docker container's event: %s", k, raw)
			}
		}
	}
	// the store selects them as kscope events --container, --pod and
	// --unit ask it to
	for _, tc := range []struct {
		f container.Filter
		n int
	}{
		{container.Filter{Container: name}, 2},
		{container.Filter{Container: id[:12]}, 2},
		{container.Filter{Container: id}, 2},
		{container.Filter{Container: name + "x"}, 0},
		{container.Filter{Container: name, Pod: "p"}, 0},
		{container.Filter{Unit: "docker.service"}, 0},
	} {
		q := store.Query{PID: uint32(pid), Match: append([]string{"type=~exec|exit"}, tc.f.Conditions()...)}
		if res, err := a.events.Query(context.Background(), q); err != nil || len(res.Events) != tc.n {
			t.Errorf("%+v: %v events (%v), want %d", tc.f, res, err, tc.n)
		}
	}
	// the host's process: none of the fields
	evs = waitEvents(t, a, store.Query{PID: uint32(host.Process.Pid), Type: "exec"}, 1)
	if strings.Contains(string(evs[0]), `"container_`) || strings.Contains(string(evs[0]), `"image"`) {
		t.Errorf("a host process's exec has container fields: %s", evs[0])
	}
	if v := gauge(t, a, "kscope_self_container_lookups_total"); v < 1 {
		t.Errorf("kscope_self_container_lookups_total %v, want at least 1", v)
	}
}

// waitEvents polls the event store until q finds n events, with a
// deadline.
func waitEvents(t *testing.T, a *Agent, q store.Query, n int) [][]byte {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := a.events.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Events) >= n {
			if len(res.Events) > n {
				t.Fatalf("%d events for %+v, want %d", len(res.Events), q, n)
			}
			return res.Events
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events for %+v after 60s, want %d", len(res.Events), q, n)
		}
	}
}

// containerPID waits for container name to run and returns its process's
// host pid.
func containerPID(t *testing.T, docker, name string) int {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, err := exec.Command(docker, "inspect", "-f", "{{.State.Pid}}", name).Output()
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && pid > 0 {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not running after 60s: %v", name, err)
		}
	}
}

// fakeSource emits one per-process family and one other family.
type fakeSource struct{ perProc, other *metrics.Desc }

func (f *fakeSource) Describe() []*metrics.Desc { return []*metrics.Desc{f.perProc, f.other} }
func (f *fakeSource) Collect(e *metrics.Emitter) error {
	e.Counter(f.perProc, 1, "10", "sshd", "77")
	e.Counter(f.perProc, 2, "11", "gone", "78")
	e.Counter(f.perProc, 3, "", "many", "")
	e.Counter(f.perProc, 4, "other", "other", "other")
	e.Gauge(f.other, 5, "x")
	return nil
}

// Per-process families get the container labels of each series' process;
// other families and the rows of many processes are left as they are, and
// two sources of one family share its labelled descriptor.
func TestLabelledSeries(t *testing.T) {
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "10"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "10", "cgroup"), []byte("1:name=systemd:/system.slice/sshd.service\n0::/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &sinks{containers: container.New(container.Options{ProcRoot: proc, DockerSocket: "-", PodmanSocket: "-"})}
	src := &fakeSource{
		perProc: metrics.NewCounter("kscope_test_per_process_total", "h", "pid", "comm", "start"),
		other:   metrics.NewGauge("kscope_test_other", "h", "l"),
	}
	l := s.labelSource(src)
	descs := l.Describe()
	wantLabels := "pid comm start container_id container_name image pod namespace systemd_unit"
	if len(descs) != 2 || strings.Join(descs[0].Labels, " ") != wantLabels || descs[1] != src.other {
		t.Fatalf("descs %+v %+v", descs[0], descs[1])
	}
	if again := s.labelSource(src).Describe(); again[0] != descs[0] {
		t.Error("a second source of the family got another descriptor")
	}
	var e metrics.Emitter
	if err := l.Collect(&e); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, smp := range e.Samples {
		if len(smp.Values) != len(smp.Desc.Labels) {
			t.Fatalf("%s: %d values for %d labels", smp.Desc.Name, len(smp.Values), len(smp.Desc.Labels))
		}
		got = append(got, fmt.Sprintf("%s%q=%v", smp.Desc.Name, smp.Values, smp.Value))
	}
	want := []string{
		`kscope_test_per_process_total["10" "sshd" "77" "" "" "" "" "" "sshd.service"]=1`,
		`kscope_test_per_process_total["11" "gone" "78" "" "" "" "" "" ""]=2`,
		`kscope_test_per_process_total["" "many" "" "" "" "" "" "" ""]=3`,
		`kscope_test_per_process_total["other" "other" "other" "" "" "" "" "" ""]=4`,
		`kscope_test_other["x"]=5`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("samples\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// containers: {enabled: false} leaves events and series as the kernel
// names them: no container labels, no resolver metrics.
func TestContainersDisabled(t *testing.T) {
	testutil.RequireBPF(t)
	cfg := testConfig(t, "process")
	cfg.Containers.Enabled = false
	a, err := Start(context.Background(), cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	found := false
	for _, d := range a.descs {
		if strings.HasPrefix(d.Name, "kscope_self_container_") {
			t.Errorf("%s with containers disabled", d.Name)
		}
		if d.Name == "kscope_process_cpu_seconds_total" {
			found = true
			if got := strings.Join(d.Labels, " "); got != "pid comm start" {
				t.Errorf("%s labels %q, want pid comm start", d.Name, got)
			}
		}
	}
	if !found {
		t.Error("no kscope_process_cpu_seconds_total")
	}
	if a.sinks.containers != nil {
		t.Error("a container resolver with containers disabled")
	}
}
