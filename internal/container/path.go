package container

import (
	"bytes"
	"fmt"
	"strings"
)

// Info is what is known of a process's container, pod and unit. The zero
// Info: none applies. Infos the Resolver returns are shared: read only.
type Info struct {
	ID        string // container id, 64 hex digits for the OCI runtimes
	Name      string // container name
	Image     string // image as the container was created from it
	Pod       string // Kubernetes pod name
	Namespace string // Kubernetes namespace
	Unit      string // systemd unit (service or scope) of a process not in a container

	// Runtime is the runtime the cgroup path names, set whenever the
	// process is in a container: docker, containerd, cri-o, podman, lxc
	// (named, with no id), or cri (a kubepods path without a runtime
	// prefix: containerd or Docker under a cgroupfs driver).
	Runtime string
	// PodUID is the pod's uid from a kubepods path.
	PodUID string
}

// IsZero reports whether nothing is known.
func (i *Info) IsZero() bool { return i == nil || *i == Info{} }

// ParseProcCgroup reads the content of /proc/PID/cgroup: one
// "hierarchy-id:controllers:path" line per hierarchy. The container is the
// first line whose path names one; otherwise the unit is the innermost
// systemd unit of the name=systemd or cgroup2 line.
func ParseProcCgroup(data []byte) (Info, error) {
	var unitInfo Info
	unitRank := -1
	for n, line := range bytes.Split(data, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		_, rest, ok1 := bytes.Cut(line, []byte{':'})
		ctrl, path, ok2 := bytes.Cut(rest, []byte{':'})
		if !ok1 || !ok2 {
			return Info{}, fmt.Errorf("line %d: %q is not hierarchy:controllers:path", n+1, line)
		}
		info := ParsePath(string(path))
		if info.Runtime != "" {
			return info, nil
		}
		if info.Unit == "" {
			continue
		}
		// systemd's own hierarchies place processes in units; the v1
		// controllers' paths may lag behind or not be delegated.
		rank := 0
		switch string(ctrl) {
		case "name=systemd":
			rank = 2
		case "":
			rank = 1
		}
		if rank > unitRank {
			unitInfo, unitRank = info, rank
		}
	}
	return unitInfo, nil
}

// ParsePath recognizes one cgroup path:
//
//	/docker/<id>                                  docker, cgroupfs driver
//	/system.slice/docker-<id>.scope               docker, systemd driver
//	/kubepods/burstable/pod<uid>/<id>             CRI, cgroupfs driver
//	/kubepods.slice/…/cri-containerd-<id>.scope   containerd CRI, systemd driver
//	/kubepods.slice/…/crio-<id>.scope             CRI-O
//	/machine.slice/libpod-<id>.scope              podman (also rootless, under user@UID.service)
//	/libpod_parent/libpod-<id>                    podman, cgroupfs driver
//	/system.slice/containerd-<id>.scope, /<ns>/<id>   plain containerd (nerdctl, ctr)
//	/lxc/<name>, /lxc.payload.<name>              LXC
//	/system.slice/nginx.service                   a systemd unit
//
// A conmon's scope (crio-conmon-<id>, libpod-conmon-<id>) is the runtime's
// monitor, not the container: it is named by its unit. Nested cgroups under
// a container (its own systemd, Docker in Docker) belong to the outermost
// container.
func ParsePath(path string) Info {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var info Info
	for i, p := range parts {
		switch {
		case p == "":
			continue
		case inKubepods(parts[:i]) && podUID(p) != "":
			info.PodUID = podUID(p)
			continue
		}
		if id, rt := containerPart(p, parts[:i]); id != "" {
			info.Runtime, info.Unit = rt, ""
			if rt == "lxc" {
				// an LXC container has a name, not an id
				info.Name = id
			} else {
				info.ID = id
			}
			return info
		}
		if isUnit(p) {
			info.Unit = p
		}
	}
	info.PodUID = ""
	return info
}

// containerPart returns the container id and runtime that the path
// component p names, given the components before it.
func containerPart(p string, before []string) (id, runtime string) {
	if u, ok := strings.CutSuffix(p, ".scope"); ok {
		for _, pre := range []struct{ prefix, runtime string }{
			{"docker-", "docker"},
			{"cri-containerd-", "containerd"},
			{"crio-", "cri-o"},
			{"libpod-", "podman"},
			{"containerd-", "containerd"},
			{"nerdctl-", "containerd"},
		} {
			if rest, ok := strings.CutPrefix(u, pre.prefix); ok && isID(rest) {
				return rest, pre.runtime
			}
		}
		return "", ""
	}
	if strings.HasPrefix(p, "lxc.payload.") && len(p) > len("lxc.payload.") {
		return p[len("lxc.payload."):], "lxc"
	}
	if len(before) == 0 {
		return "", ""
	}
	parent := before[len(before)-1]
	switch {
	case strings.HasPrefix(p, "crio-") && isID(p[5:]):
		return p[5:], "cri-o"
	case strings.HasPrefix(p, "libpod-") && isID(p[7:]):
		return p[7:], "podman"
	case !isID(p):
		if parent == "lxc" && len(before) == 1 && !strings.HasSuffix(p, ".scope") {
			return p, "lxc"
		}
		return "", ""
	case parent == "docker":
		return p, "docker"
	case strings.HasPrefix(parent, "pod") && inKubepods(before[:len(before)-1]):
		return p, "cri"
	case len(before) == 1 && !isUnit(parent) && !strings.HasSuffix(parent, ".slice") && parent != "kubepods" && parent != "..":
		// /<namespace>/<id>: containerd's default cgroup parent is its
		// namespace.
		return p, "containerd"
	}
	return "", ""
}

// inKubepods reports whether a path's components are under kubelet's
// cgroup root (kubepods, or kubepods.slice and its QoS slices).
func inKubepods(before []string) bool {
	for _, p := range before {
		if p == "kubepods" || strings.HasPrefix(p, "kubepods") && strings.HasSuffix(p, ".slice") {
			return true
		}
	}
	return false
}

// podUID returns the uid in a kubepods pod component: pod<uid> (cgroupfs)
// or kubepods-<qos>-pod<uid_with_underscores>.slice (systemd).
func podUID(p string) string {
	p = strings.TrimSuffix(p, ".slice")
	i := strings.LastIndex(p, "pod")
	if i < 0 {
		return ""
	}
	uid := strings.ReplaceAll(p[i+3:], "_", "-")
	if len(uid) != 36 {
		return ""
	}
	for _, c := range uid {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return ""
		}
	}
	return uid
}

// isID reports whether s is a container id: 64 lower-case hex digits.
func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isUnit reports whether a path component is a systemd service or scope.
// Slices group units; they are not one.
func isUnit(p string) bool {
	return len(p) > len(".scope") && (strings.HasSuffix(p, ".service") || strings.HasSuffix(p, ".scope"))
}
