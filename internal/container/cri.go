package container

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criAPI asks a Container Runtime Interface service (containerd's CRI
// plugin, CRI-O) over its Unix socket: kubelet's own view of a
// container, with the pod's labels.
type criAPI struct {
	socket string

	mu     sync.Mutex
	client runtimeapi.RuntimeServiceClient // nil until first used
	conn   *grpc.ClientConn
	// downUntil: the service did not answer; it is not asked before
	// then. Guarded by the Resolver's lookupMu.
	downUntil time.Time
}

func newCRIAPI(socket string) *criAPI { return &criAPI{socket: socket} }

// present reports whether the socket exists.
func (c *criAPI) present() bool {
	fi, err := os.Stat(c.socket)
	return err == nil && fi.Mode().Type() == os.ModeSocket
}

func (c *criAPI) runtime() (runtimeapi.RuntimeServiceClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		conn, err := grpc.NewClient("unix://"+c.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", c.socket, err)
		}
		c.conn, c.client = conn, runtimeapi.NewRuntimeServiceClient(conn)
	}
	return c.client, nil
}

// container fills the names of container id from ContainerStatus. down:
// the service did not answer (as opposed to answering with an error).
func (c *criAPI) container(ctx context.Context, id string, info *Info) (down bool, err error) {
	rt, err := c.runtime()
	if err != nil {
		return true, err
	}
	resp, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		return false, errNotFound
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true, fmt.Errorf("asking %s: %w", c.socket, err)
	default:
		return false, fmt.Errorf("asking %s: %w", c.socket, err)
	}
	applyCRI(resp.GetStatus(), info)
	return false, nil
}

// applyCRI copies a CRI container status's names to info: the container's
// name from its metadata, the image as the pod spec names it, the pod and
// namespace from kubelet's labels.
func applyCRI(st *runtimeapi.ContainerStatus, info *Info) {
	if n := st.GetMetadata().GetName(); n != "" {
		info.Name = n
	}
	img := st.GetImage().GetUserSpecifiedImage()
	if img == "" {
		img = st.GetImage().GetImage()
	}
	if img != "" {
		info.Image = img
	}
	l := st.GetLabels()
	if v := l[labelPodName]; v != "" {
		info.Pod = v
	}
	if v := l[labelPodNamespace]; v != "" {
		info.Namespace = v
	}
	if v := l[labelContainerName]; v != "" {
		info.Name = v
	}
}

// close closes the connection, if one was made.
func (c *criAPI) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.client = nil, nil
	return err
}
