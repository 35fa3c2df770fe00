package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Kubernetes labels (Docker under cri-dockerd, CRI-O's annotations) and
// containerd CRI annotations that name a container's pod.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelContainerName = "io.kubernetes.container.name"

	annoCRISandboxName = "io.kubernetes.cri.sandbox-name"
	annoCRISandboxNS   = "io.kubernetes.cri.sandbox-namespace"
	annoCRIContainer   = "io.kubernetes.cri.container-name"
	annoCRIImage       = "io.kubernetes.cri.image-name"
	annoCRIOImage      = "io.kubernetes.cri-o.ImageName"
	annoCRIOName       = "io.kubernetes.cri-o.ContainerName"
	annoCRIOLabels     = "io.kubernetes.cri-o.Labels"
)

// errNotFound: the runtime does not know the container.
var errNotFound = errors.New("no such container")

// dockerAPI talks to the Docker Engine API (or Podman's compatible one)
// over a Unix socket.
type dockerAPI struct {
	socket string
	client *http.Client
	// downUntil: the API did not answer (a timeout, a refused
	// connection); it is not asked before then. Guarded by the
	// Resolver's lookupMu.
	downUntil time.Time
}

// statusError is an answer other than 200 or 404: the API works.
type statusError struct {
	socket, status string
}

func (e *statusError) Error() string { return "asking " + e.socket + ": " + e.status }

func newDockerAPI(socket string, timeout time.Duration) *dockerAPI {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &dockerAPI{socket: socket, client: &http.Client{Transport: tr, Timeout: timeout}}
}

// present reports whether the socket exists: without one, no request is
// tried.
func (d *dockerAPI) present() bool {
	fi, err := os.Stat(d.socket)
	return err == nil && fi.Mode().Type() == os.ModeSocket
}

// inspect is the part of GET /containers/{id}/json that kscope reads.
type inspect struct {
	ID     string `json:"Id"`
	Name   string `json:"Name"`
	Config struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
}

// container fills the names of container id from the API.
func (d *dockerAPI) container(ctx context.Context, id string, info *Info) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/"+id+"/json", nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("asking %s: %w", d.socket, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return errNotFound
	case resp.StatusCode != http.StatusOK:
		return &statusError{d.socket, resp.Status}
	}
	var in inspect
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&in); err != nil {
		return fmt.Errorf("decoding %s's answer: %w", d.socket, err)
	}
	applyDocker(&in, info)
	return nil
}

// applyDocker copies an inspect answer's names to info: a container that
// kubelet made (through cri-dockerd) is named by its Kubernetes labels.
func applyDocker(in *inspect, info *Info) {
	info.Name = strings.TrimPrefix(in.Name, "/")
	info.Image = in.Config.Image
	l := in.Config.Labels
	if l[labelPodName] != "" {
		info.Pod, info.Namespace = l[labelPodName], l[labelPodNamespace]
		if n := l[labelContainerName]; n != "" {
			info.Name = n
		}
	}
}

// bundles finds the OCI bundles that containerd and CRI-O keep for running
// containers: their config.json annotations hold the CRI's container, pod
// and image names.
type bundles struct {
	// containerd is containerd's runtime v2 state directory, holding
	// <namespace>/<id>/config.json.
	containerd string
	// crio is containers/storage's run directory, holding
	// <id>/userdata/config.json.
	crio string
}

// container fills the names of container id from its bundle.
func (b *bundles) container(id, runtime string, info *Info) error {
	var paths []string
	if runtime == "cri-o" || runtime == "cri" || runtime == "podman" {
		if b.crio != "" {
			paths = append(paths, filepath.Join(b.crio, id, "userdata", "config.json"))
		}
	}
	if runtime == "containerd" || runtime == "cri" {
		if b.containerd != "" {
			m, _ := filepath.Glob(filepath.Join(b.containerd, "*", id, "config.json"))
			paths = append(paths, m...)
		}
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		var spec struct {
			Annotations map[string]string `json:"annotations"`
		}
		if err := json.Unmarshal(data, &spec); err != nil {
			return fmt.Errorf("decoding %s: %w", p, err)
		}
		applyAnnotations(spec.Annotations, info)
		return nil
	}
	return errNotFound
}

// applyAnnotations copies the CRI's names from a bundle's annotations:
// containerd's io.kubernetes.cri.* or CRI-O's io.kubernetes.* ones.
func applyAnnotations(a map[string]string, info *Info) {
	// CRI-O keeps the CRI's labels as one JSON annotation.
	if l := a[annoCRIOLabels]; l != "" {
		var labels map[string]string
		if json.Unmarshal([]byte(l), &labels) == nil {
			merged := make(map[string]string, len(a)+len(labels))
			for k, v := range labels {
				merged[k] = v
			}
			for k, v := range a {
				merged[k] = v
			}
			a = merged
		}
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := a[k]; v != "" {
				return v
			}
		}
		return ""
	}
	if v := first(annoCRIContainer, labelContainerName, annoCRIOName); v != "" {
		info.Name = v
	}
	if v := first(annoCRIImage, annoCRIOImage); v != "" {
		info.Image = v
	}
	if v := first(annoCRISandboxName, labelPodName); v != "" {
		info.Pod = v
	}
	if v := first(annoCRISandboxNS, labelPodNamespace); v != "" {
		info.Namespace = v
	}
}
