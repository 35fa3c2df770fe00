package container

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kscope/kscope/internal/event"
)

// collect keeps each event's JSON encoding.
type collect struct{ got []string }

func (c *collect) Emit(ev event.Event) { c.got = append(c.got, string(event.AppendJSON(nil, ev))) }
func (c *collect) Flush()              {}

func TestSink(t *testing.T) {
	e := startEngine(t, map[string]string{id1: `{"Id":"` + id1 + `","Name":"/web","Config":{"Image":"nginx:1.25"}}`})
	proc := procFixture(t, map[uint32]string{
		10: "1:name=systemd:/system.slice/runc.scope\n0::/\n", // before it joins the container
		11: "1:name=systemd:/system.slice/sshd.service\n0::/\n",
		12: "0::/\n",
	})
	r := New(Options{ProcRoot: proc, DockerSocket: e.socket, PodmanSocket: "-", ContainerdState: "-", CRIOState: "-"})
	hdr := func(typ string, pid uint32) event.Header {
		return event.Header{Type: typ, PID: pid, TID: pid, Comm: "x", StartNS: 5}
	}
	const tail = `,"filename":"/bin/x","filename_unavailable":false,"argv":[],"argv_truncated":false,"argv_unavailable":false,"ret":0`
	prefix := func(pid string) string {
		return `{"time":"0001-01-01T00:00:00Z","type":"exec","pid":` + pid + `,"tid":` + pid + `,"ppid":0,"uid":0,"comm":"x","cgroup_id":0,"start_ns":5,"start_time":"0001-01-01T00:00:00Z","parent_start_ns":0`
	}
	exec := func(pid uint32) *event.Exec { return &event.Exec{Header: hdr("exec", pid), Filename: "/bin/x"} }

	var all collect
	s := NewSink(r, Filter{}, &all)
	s.Emit(exec(10))
	// runc moves it into the container's cgroups, then it execs the
	// container's program: the exec reads its cgroups again
	if err := os.WriteFile(filepath.Join(proc, "10", "cgroup"), []byte("1:name=systemd:/docker/"+id1+"\n0::/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Emit(exec(10))
	s.Emit(exec(11))
	s.Emit(exec(12))
	want := []string{
		prefix("10") + tail + `,"systemd_unit":"runc.scope"}`,
		prefix("10") + tail + `,"container_id":"` + id1 + `","container_name":"web","image":"nginx:1.25"}`,
		prefix("11") + tail + `,"systemd_unit":"sshd.service"}`,
		prefix("12") + tail + `}`,
	}
	check := func(name string, got, want []string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d:\n%q", name, len(got), len(want), got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: event %d\n got %s\nwant %s", name, i, got[i], want[i])
			}
		}
	}
	check("no filter", all.got, want)
	if s.Dropped() != 0 {
		t.Errorf("dropped %d without a filter", s.Dropped())
	}

	var web collect
	s = NewSink(r, Filter{Container: "web"}, &web)
	for _, pid := range []uint32{10, 11, 12} {
		s.Emit(exec(pid))
	}
	check("--container web", web.got, want[1:2])
	if s.Dropped() != 2 {
		t.Errorf("dropped %d, want 2", s.Dropped())
	}
}

// BenchmarkSinkEmit measures the enrichment of one event of a cached
// container process: the agent's cost per event.
func BenchmarkSinkEmit(b *testing.B) {
	proc := b.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "10"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "10", "cgroup"), []byte("0::/lxc.payload.web\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	r := New(Options{ProcRoot: proc, DockerSocket: "-", PodmanSocket: "-"})
	s := NewSink(r, Filter{}, nopSink{})
	ev := &event.Exit{Header: event.Header{Type: "exit", PID: 10, StartNS: 5}}
	b.ReportAllocs()
	for b.Loop() {
		s.Emit(ev)
	}
}

type nopSink struct{}

func (nopSink) Emit(event.Event) {}
func (nopSink) Flush()           {}
