// Package container names the container, Kubernetes pod and systemd unit a
// process runs in. It reads the process's cgroup paths (/proc/PID/cgroup,
// every hierarchy: on a hybrid host containers show only in the v1
// controllers' paths), recognizes the shapes that Docker, containerd
// (CRI and plain), CRI-O, Podman, LXC and systemd give them (path.go), then
// asks the runtime for names: the Docker Engine API (also Podman's
// compatible API) over its Unix socket (runtime.go), the Container Runtime
// Interface of containerd and CRI-O over gRPC, with kubelet's pod labels
// (cri.go), and the OCI bundles containerd and CRI-O keep, whose
// annotations carry the same labels (runtime.go).
// Containers lists the runtimes' containers with the same names, and
// WatchContainers follows the Docker Engine's container events, for the
// policy's container selectors, which the kernel matches by id (list.go).
// Results are cached in bounded LRUs keyed by process (pid and start time)
// and by container id, with evictions counted (resolver.go). It imports
// no BPF package.
package container
