package container

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestContainers lists the containers of a Docker Engine API (all of them,
// created ones included) named as Process names them: Docker's name, or
// kubelet's container name for a pod's container; a missing socket is
// skipped, an API that fails is an error.
func TestContainers(t *testing.T) {
	id1, id2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	socket := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "busy", http.StatusInternalServerError)
			return
		}
		if r.URL.Path != "/containers/json" || r.URL.Query().Get("all") != "1" {
			http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `[{"Id":%q,"Names":["/web"],"Image":"nginx:1","Labels":{}},
			{"Id":%q,"Names":["/k8s_app_pod"],"Image":"app:2","Labels":{"io.kubernetes.pod.name":"pod","io.kubernetes.pod.namespace":"ns","io.kubernetes.container.name":"app"}}]`, id1, id2)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	r := New(Options{DockerSocket: socket, PodmanSocket: "-", ContainerdSocket: "-", CRIOSocket: "-"})
	defer r.Close()
	got, err := r.Containers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Info{
		{ID: id1, Name: "web", Image: "nginx:1", Runtime: "docker"},
		{ID: id2, Name: "app", Image: "app:2", Pod: "pod", Namespace: "ns", Runtime: "docker"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	fail.Store(true)
	if _, err := r.Containers(context.Background()); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("a failing API: %v", err)
	}
	none := New(Options{DockerSocket: filepath.Join(t.TempDir(), "none.sock"), PodmanSocket: "-", ContainerdSocket: "-", CRIOSocket: "-"})
	if got, err := none.Containers(context.Background()); err != nil || len(got) != 0 {
		t.Errorf("no socket: %v, %v", got, err)
	}
}
