package container

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// procFixture writes /proc/PID/cgroup files under a temporary root.
func procFixture(t *testing.T, files map[uint32]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, data := range files {
		dir := filepath.Join(root, fmt.Sprint(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// engine serves GET /containers/{id}/json as the Docker Engine API does,
// on a Unix socket, and counts the requests.
type engine struct {
	socket   string
	requests atomic.Int64
	fail     atomic.Bool
	hang     atomic.Bool       // answer nothing until the client gives up
	answers  map[string]string // id → inspect JSON
}

func startEngine(t *testing.T, answers map[string]string) *engine {
	t.Helper()
	e := &engine{socket: filepath.Join(t.TempDir(), "docker.sock"), answers: answers}
	ln, err := net.Listen("unix", e.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		if e.hang.Load() {
			<-r.Context().Done()
			return
		}
		if e.fail.Load() {
			http.Error(w, "daemon busy", http.StatusInternalServerError)
			return
		}
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/containers/"), "/json")
		a, ok := e.answers[id]
		if !ok {
			http.Error(w, `{"message":"No such container"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, a)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return e
}

func TestResolverDocker(t *testing.T) {
	e := startEngine(t, map[string]string{
		id1: `{"Id":"` + id1 + `","Name":"/web","Config":{"Image":"nginx:1.25","Labels":{"a":"b"}}}`,
		id2: `{"Id":"` + id2 + `","Name":"/k8s_app_pod-0_shop_` + uid + `_0","Config":{"Image":"shop/app@sha256:ab","Labels":{"io.kubernetes.pod.name":"pod-0","io.kubernetes.pod.namespace":"shop","io.kubernetes.container.name":"app"}}}`,
	})
	proc := procFixture(t, map[uint32]string{
		10: "9:name=systemd:/docker/" + id1 + "\n0::/\n",
		11: "4:memory:/docker/" + id1 + "\n0::/\n",
		12: "0::/kubepods/burstable/pod" + uid + "/" + id2 + "\n",
		13: "1:name=systemd:/system.slice/sshd.service\n0::/\n",
		14: "0::/\n",
	})
	r := New(Options{ProcRoot: proc, DockerSocket: e.socket, PodmanSocket: "-", ContainerdState: "-", CRIOState: "-"})
	for _, tc := range []struct {
		pid  uint32
		want *Info
	}{
		{10, &Info{ID: id1, Name: "web", Image: "nginx:1.25", Runtime: "docker"}},
		{11, &Info{ID: id1, Name: "web", Image: "nginx:1.25", Runtime: "docker"}},
		{12, &Info{ID: id2, Name: "app", Image: "shop/app@sha256:ab", Pod: "pod-0", Namespace: "shop", Runtime: "cri", PodUID: uid}},
		{13, &Info{Unit: "sshd.service"}},
		{14, nil},
		{15, nil}, // gone
	} {
		for range 2 {
			got := r.Process(tc.pid, 1000)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("pid %d: got %+v, want %+v", tc.pid, got, tc.want)
			}
		}
	}
	st := r.Stats()
	// one request per container, a miss and a hit per process (the gone
	// one is cached as gone)
	want := Stats{ProcessHits: 6, ProcessMisses: 6, Unresolved: 1, Lookups: 2, Processes: 6, Containers: 2}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if n := e.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestResolverRetry(t *testing.T) {
	e := startEngine(t, map[string]string{id1: `{"Id":"` + id1 + `","Name":"/web","Config":{"Image":"nginx"}}`})
	e.fail.Store(true)
	proc := procFixture(t, map[uint32]string{10: "0::/system.slice/docker-" + id1 + ".scope\n"})
	r := New(Options{ProcRoot: proc, DockerSocket: e.socket, RetryAfter: time.Minute})
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	pathOnly := Info{ID: id1, Runtime: "docker"}
	if got := r.Process(10, 1); got == nil || *got != pathOnly {
		t.Fatalf("with the daemon failing: %+v, want %+v", got, pathOnly)
	}
	e.fail.Store(false)
	if got := r.Process(10, 1); *got != pathOnly {
		t.Errorf("before RetryAfter: %+v, want %+v (not asked again)", got, pathOnly)
	}
	now = now.Add(time.Minute)
	full := Info{ID: id1, Name: "web", Image: "nginx", Runtime: "docker"}
	if got := r.Process(10, 1); *got != full {
		t.Errorf("after RetryAfter: %+v, want %+v", got, full)
	}
	if st := r.Stats(); st.Lookups != 2 || st.LookupErrors != 1 {
		t.Errorf("stats %+v: want 2 lookups, 1 failed", st)
	}
	// renamed: Forget makes the next process ask again
	e.answers[id1] = `{"Id":"` + id1 + `","Name":"/web2","Config":{"Image":"nginx"}}`
	r.Forget(id1)
	if got := r.Process(10, 1); got.Name != "web2" {
		t.Errorf("after Forget: %+v, want name web2", got)
	}
}

// A runtime that does not answer costs one timeout per RetryAfter, not
// one per container: the collectors' readers wait for it meanwhile.
func TestResolverRuntimeDown(t *testing.T) {
	e := startEngine(t, map[string]string{id1: `{"Id":"` + id1 + `","Name":"/web","Config":{"Image":"nginx"}}`})
	e.hang.Store(true)
	proc := procFixture(t, map[uint32]string{
		10: "0::/docker/" + id1 + "\n",
		11: "0::/docker/" + id2 + "\n",
	})
	r := New(Options{ProcRoot: proc, DockerSocket: e.socket, Timeout: 100 * time.Millisecond, RetryAfter: time.Minute})
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	for pid, id := range map[uint32]string{10: id1, 11: id2} {
		if got, want := r.Process(pid, 1), (Info{ID: id, Runtime: "docker"}); got == nil || *got != want {
			t.Errorf("pid %d with the daemon hung: %+v, want %+v", pid, got, want)
		}
	}
	if n := e.requests.Load(); n != 1 {
		t.Errorf("%d requests to a hung daemon, want 1", n)
	}
	if st := r.Stats(); st.Lookups != 1 || st.LookupErrors != 2 {
		t.Errorf("stats %+v: want 1 lookup, 2 failed", st)
	}
	// a 500 is an answer: the daemon is not skipped after one
	e.hang.Store(false)
	e.fail.Store(true)
	now = now.Add(time.Minute)
	r.Process(11, 1)
	r.Process(10, 1)
	if n := e.requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3: a 500 does not mark the daemon down", n)
	}
	e.fail.Store(false)
	now = now.Add(time.Minute)
	if got := r.Process(10, 1); got.Name != "web" {
		t.Errorf("after RetryAfter: %+v, want name web", got)
	}
}

func TestResolverBounded(t *testing.T) {
	files := map[uint32]string{}
	for pid := uint32(1); pid <= 10; pid++ {
		files[pid] = fmt.Sprintf("0::/system.slice/u%d.service\n", pid)
	}
	r := New(Options{ProcRoot: procFixture(t, files), MaxProcesses: 4, DockerSocket: "-", PodmanSocket: "-"})
	for pid := uint32(1); pid <= 10; pid++ {
		if got := r.Process(pid, 7); got == nil || got.Unit != fmt.Sprintf("u%d.service", pid) {
			t.Fatalf("pid %d: %+v", pid, got)
		}
	}
	// the newest four are cached; pid 10 again is a hit, pid 1 a miss
	r.Process(10, 7)
	r.Process(1, 7)
	st := r.Stats()
	if st.Processes != 4 || st.ProcessEvictions != 7 || st.ProcessHits != 1 || st.ProcessMisses != 11 {
		t.Errorf("stats %+v: want 4 cached, 7 evicted, 1 hit, 11 misses", st)
	}
	// the same pid with another start time is another process
	r.Process(1, 8)
	if st := r.Stats(); st.ProcessMisses != 12 {
		t.Errorf("a reused pid was a hit: %+v", st)
	}
}

func TestResolverBundles(t *testing.T) {
	state := t.TempDir()
	crio := t.TempDir()
	write := func(path string, v any) {
		t.Helper()
		data, _ := json.Marshal(v)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// containerd's CRI plugin: io.kubernetes.cri.* annotations in the
	// k8s.io namespace's bundle
	write(filepath.Join(state, "k8s.io", id1, "config.json"), map[string]any{"ociVersion": "1.0.2", "annotations": map[string]string{
		"io.kubernetes.cri.container-type":    "container",
		"io.kubernetes.cri.container-name":    "nginx",
		"io.kubernetes.cri.image-name":        "docker.io/library/nginx:1.25",
		"io.kubernetes.cri.sandbox-name":      "web-7d4b9c",
		"io.kubernetes.cri.sandbox-namespace": "default",
	}})
	// CRI-O: its own annotations, the CRI labels as one JSON string
	labels, _ := json.Marshal(map[string]string{"io.kubernetes.pod.name": "db-0", "io.kubernetes.pod.namespace": "data", "io.kubernetes.container.name": "postgres"})
	write(filepath.Join(crio, id2, "userdata", "config.json"), map[string]any{"annotations": map[string]string{
		"io.kubernetes.cri-o.ImageName":     "docker.io/library/postgres:16",
		"io.kubernetes.cri-o.ContainerName": "k8s_postgres_db-0_data_" + uid + "_0",
		"io.kubernetes.cri-o.Labels":        string(labels),
	}})
	uidU := strings.ReplaceAll(uid, "-", "_")
	proc := procFixture(t, map[uint32]string{
		20: "0::/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + id1 + ".scope\n",
		21: "0::/kubepods.slice/kubepods-pod" + uidU + ".slice/crio-" + id2 + ".scope\n",
	})
	r := New(Options{ProcRoot: proc, DockerSocket: "-", PodmanSocket: "-", ContainerdState: state, CRIOState: crio})
	for pid, want := range map[uint32]Info{
		20: {ID: id1, Name: "nginx", Image: "docker.io/library/nginx:1.25", Pod: "web-7d4b9c", Namespace: "default", Runtime: "containerd", PodUID: uid},
		21: {ID: id2, Name: "postgres", Image: "docker.io/library/postgres:16", Pod: "db-0", Namespace: "data", Runtime: "cri-o", PodUID: uid},
	} {
		if got := r.Process(pid, 1); got == nil || *got != want {
			t.Errorf("pid %d:\n got %+v\nwant %+v", pid, got, want)
		}
	}
}

func TestFilter(t *testing.T) {
	web := &Info{ID: id1, Name: "web", Image: "nginx", Pod: "web-0", Namespace: "shop", Runtime: "docker"}
	sshd := &Info{Unit: "sshd.service"}
	for _, tc := range []struct {
		f         Filter
		web, sshd bool
		conds     string
		promql    string
	}{
		{Filter{}, true, true, "", ""},
		{Filter{Container: "web"}, true, false, "container_name=web", `container_name="web"`},
		{Filter{Container: id1[:12]}, true, false, "container_id=~" + id1[:12] + "[0-9a-f]*", `container_id=~"` + id1[:12] + `[0-9a-f]*"`},
		{Filter{Container: id1}, true, false, "container_id=~" + id1 + "[0-9a-f]*", `container_id=~"` + id1 + `[0-9a-f]*"`},
		{Filter{Container: id1[:11]}, false, false, "container_name=" + id1[:11], `container_name="` + id1[:11] + `"`},
		{Filter{Container: "db"}, false, false, "container_name=db", `container_name="db"`},
		{Filter{Container: `a"b`}, false, false, `container_name=a"b`, `container_name="a\"b"`},
		{Filter{Pod: "web-0"}, true, false, "pod=web-0", `pod="web-0"`},
		{Filter{Pod: "shop/web-0"}, true, false, "namespace=shop pod=web-0", `namespace="shop",pod="web-0"`},
		{Filter{Pod: "other/web-0"}, false, false, "namespace=other pod=web-0", `namespace="other",pod="web-0"`},
		{Filter{Unit: "sshd"}, false, true, `systemd_unit=~sshd(?:\.service)?`, `systemd_unit=~"sshd(?:\\.service)?"`},
		{Filter{Unit: "sshd.service"}, false, true, `systemd_unit=~sshd\.service(?:\.service)?`, `systemd_unit=~"sshd\\.service(?:\\.service)?"`},
		{Filter{Container: "web", Unit: "sshd"}, false, false, `container_name=web systemd_unit=~sshd(?:\.service)?`, `container_name="web",systemd_unit=~"sshd(?:\\.service)?"`},
	} {
		if got := tc.f.Match(web); got != tc.web {
			t.Errorf("%+v.Match(web) = %v", tc.f, got)
		}
		if got := tc.f.Match(sshd); got != tc.sshd {
			t.Errorf("%+v.Match(sshd) = %v", tc.f, got)
		}
		if tc.f.Match(nil) != tc.f.IsZero() {
			t.Errorf("%+v.Match(nil) = %v", tc.f, !tc.f.IsZero())
		}
		if got := strings.Join(tc.f.Conditions(), " "); got != tc.conds {
			t.Errorf("%+v.Conditions() = %q, want %q", tc.f, got, tc.conds)
		}
		if got := tc.f.PromQL(); got != tc.promql {
			t.Errorf("%+v.PromQL() = %s, want %s", tc.f, got, tc.promql)
		}
	}
}

func TestAppendJSON(t *testing.T) {
	i := &Info{ID: id1, Name: `we"b`, Image: "nginx", Runtime: "docker"}
	want := `,"container_id":"` + id1 + `","container_name":"we\"b","image":"nginx"`
	if got := string(i.AppendJSON(nil)); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if got := string((*Info)(nil).AppendJSON(nil)); got != "" {
		t.Errorf("nil: %q", got)
	}
}
