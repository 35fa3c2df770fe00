package config

import "gopkg.in/yaml.v3"

// Containers is the containers section: how the agent names the
// container, pod and systemd unit of each process (docs/containers.md).
// It applies at start; a reload keeps the running settings.
type Containers struct {
	// Enabled: events and per-process series get container_id,
	// container_name, image, pod, namespace and systemd_unit.
	Enabled bool
	// DockerSocket and PodmanSocket are the Docker Engine API's and
	// Podman's compatible API's Unix sockets, ContainerdSocket and
	// CRIOSocket the CRI services'; "": not asked.
	DockerSocket, PodmanSocket, ContainerdSocket, CRIOSocket string
	// MaxProcesses and MaxContainers bound the resolver's caches.
	MaxProcesses, MaxContainers int
}

// Container resolver defaults.
const (
	DefaultDockerSocket     = "/var/run/docker.sock"
	DefaultPodmanSocket     = "/run/podman/podman.sock"
	DefaultContainerdSocket = "/run/containerd/containerd.sock"
	DefaultCRIOSocket       = "/var/run/crio/crio.sock"
	DefaultMaxProcesses     = 16384
	DefaultMaxContainers    = 4096
	// MaxContainerCache bounds max_processes and max_containers.
	MaxContainerCache = 1 << 20
)

// DefaultContainers is the containers section when the file has none.
func DefaultContainers() Containers {
	return Containers{
		Enabled:          true,
		DockerSocket:     DefaultDockerSocket,
		PodmanSocket:     DefaultPodmanSocket,
		ContainerdSocket: DefaultContainerdSocket,
		CRIOSocket:       DefaultCRIOSocket,
		MaxProcesses:     DefaultMaxProcesses,
		MaxContainers:    DefaultMaxContainers,
	}
}

func (p *parser) containers(n *yaml.Node, c *Config) {
	keys := []string{"enabled", "docker_socket", "podman_socket", "containerd_socket", "crio_socket", "max_processes", "max_containers"}
	p.mapping(n, "containers", keys, func(key string, v *yaml.Node) {
		path := "containers." + key
		switch key {
		case "enabled":
			c.Containers.Enabled = p.boolean(v, path)
		case "docker_socket":
			c.Containers.DockerSocket = p.str(v, path)
		case "podman_socket":
			c.Containers.PodmanSocket = p.str(v, path)
		case "containerd_socket":
			c.Containers.ContainerdSocket = p.str(v, path)
		case "crio_socket":
			c.Containers.CRIOSocket = p.str(v, path)
		case "max_processes", "max_containers":
			n := p.positive(v, path)
			if n > MaxContainerCache {
				p.fail(v, path, "at most %d", MaxContainerCache)
			}
			if key == "max_processes" {
				c.Containers.MaxProcesses = n
			} else {
				c.Containers.MaxContainers = n
			}
		}
	})
}
