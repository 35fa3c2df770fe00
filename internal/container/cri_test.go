package container

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criServer answers ContainerStatus as containerd's CRI plugin does for
// the containers it knows.
type criServer struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	known    map[string]*runtimeapi.ContainerStatus
	requests atomic.Int64
}

func (s *criServer) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	s.requests.Add(1)
	st, ok := s.known[req.GetContainerId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "an error occurred when try to find container %q: not found", req.GetContainerId())
	}
	return &runtimeapi.ContainerStatusResponse{Status: st}, nil
}

// startCRI serves s over gRPC on a Unix socket until the test ends.
func startCRI(t *testing.T, s *criServer) (socket string, stop func()) {
	t.Helper()
	socket = filepath.Join(t.TempDir(), "containerd.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	// the socket file stays when the server stops, as a crashed
	// runtime's does
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, s)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return socket, srv.Stop
}

func TestResolverCRI(t *testing.T) {
	s := &criServer{known: map[string]*runtimeapi.ContainerStatus{
		id1: {
			Id:       id1,
			Metadata: &runtimeapi.ContainerMetadata{Name: "nginx"},
			Image:    &runtimeapi.ImageSpec{Image: "sha256:4f2f", UserSpecifiedImage: "docker.io/library/nginx:1.25"},
			Labels: map[string]string{
				"io.kubernetes.pod.name":       "web-7d4b9c",
				"io.kubernetes.pod.namespace":  "shop",
				"io.kubernetes.container.name": "nginx",
				"io.kubernetes.pod.uid":        uid,
			},
		},
	}}
	socket, stop := startCRI(t, s)
	uidU := strings.ReplaceAll(uid, "-", "_")
	proc := procFixture(t, map[uint32]string{
		20: "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id1 + ".scope\n",
		21: "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id2 + ".scope\n",
		22: "4:memory:/kubepods/burstable/pod" + uid + "/" + id1 + "\n",
	})
	r := New(Options{ProcRoot: proc, DockerSocket: "-", PodmanSocket: "-", CRIOSocket: "-", ContainerdState: "-", CRIOState: "-", ContainerdSocket: socket})
	defer r.Close()
	want := Info{ID: id1, Name: "nginx", Image: "docker.io/library/nginx:1.25", Pod: "web-7d4b9c", Namespace: "shop", Runtime: "containerd", PodUID: uid}
	if got := r.Process(20, 1); got == nil || *got != want {
		t.Errorf("pid 20:\n got %+v\nwant %+v", got, want)
	}
	// unknown to the runtime: what the path says
	if got, want := r.Process(21, 1), (Info{ID: id2, Runtime: "containerd", PodUID: uid}); got == nil || *got != want {
		t.Errorf("pid 21:\n got %+v\nwant %+v", got, want)
	}
	if n := s.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	// a kubepods path under the cgroupfs driver names no runtime: the
	// CRI service is asked (the container is cached from pid 20)
	r.Forget(id1)
	stop()
	if got := r.Process(22, 1); got == nil || got.ID != id1 || got.Name != "" {
		t.Errorf("pid 22 with the runtime stopped: %+v, want the path's id only", got)
	}
	if st := r.Stats(); st.LookupErrors != 2 {
		t.Errorf("stats %+v: want 2 failed lookups (not found, stopped)", st)
	}
}
