package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Options configure a Resolver. The zero Options resolve on this host
// with the default sockets, directories and cache sizes.
type Options struct {
	// ProcRoot is where /proc is mounted (default "/proc").
	ProcRoot string
	// DockerSocket is the Docker Engine API's socket (default
	// /var/run/docker.sock); PodmanSocket Podman's compatible API
	// (default /run/podman/podman.sock). "-" disables one.
	DockerSocket, PodmanSocket string
	// ContainerdSocket (default /run/containerd/containerd.sock) and
	// CRIOSocket (default /var/run/crio/crio.sock) serve the Container
	// Runtime Interface, whose ContainerStatus has the pod's labels. "-"
	// disables one.
	ContainerdSocket, CRIOSocket string
	// ContainerdState is containerd's runtime v2 state directory (default
	// /run/containerd/io.containerd.runtime.v2.task); CRIOState
	// containers/storage's run directory (default
	// /run/containers/storage/overlay-containers). "-" disables one.
	ContainerdState, CRIOState string
	// MaxProcesses bounds the processes cached (default 16384);
	// MaxContainers the containers (default 4096).
	MaxProcesses, MaxContainers int
	// Timeout bounds one request to a runtime's API (default 1s).
	Timeout time.Duration
	// RetryAfter is how long a container whose runtime did not answer
	// keeps only what its cgroup path says before it is asked again
	// (default 30s).
	RetryAfter time.Duration
	Logger     *slog.Logger
}

func (o *Options) defaults() {
	def := func(s *string, v string) {
		switch *s {
		case "":
			*s = v
		case "-":
			*s = ""
		}
	}
	def(&o.ProcRoot, "/proc")
	def(&o.DockerSocket, "/var/run/docker.sock")
	def(&o.PodmanSocket, "/run/podman/podman.sock")
	def(&o.ContainerdSocket, "/run/containerd/containerd.sock")
	def(&o.CRIOSocket, "/var/run/crio/crio.sock")
	def(&o.ContainerdState, "/run/containerd/io.containerd.runtime.v2.task")
	def(&o.CRIOState, "/run/containers/storage/overlay-containers")
	if o.MaxProcesses <= 0 {
		o.MaxProcesses = 16384
	}
	if o.MaxContainers <= 0 {
		o.MaxContainers = 4096
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Stats count the Resolver's work since it was made.
type Stats struct {
	ProcessHits, ProcessMisses uint64
	// Unresolved counts processes whose cgroups could not be read (gone
	// before they were first seen).
	Unresolved uint64
	// ProcessEvictions and ContainerEvictions count the entries the
	// caches' bounds pushed out.
	ProcessEvictions, ContainerEvictions uint64
	// Lookups counts requests to runtimes, LookupErrors those that failed
	// (the container keeps what its path says until RetryAfter).
	Lookups, LookupErrors uint64
	Processes, Containers int // cached now
}

// Resolver names the containers, pods and units of processes. Safe for
// concurrent use.
type Resolver struct {
	o       Options
	docker  *dockerAPI
	podman  *dockerAPI
	crio    *criAPI // CRI services, nil when disabled
	cri     *criAPI // containerd's
	bundles bundles
	now     func() time.Time

	mu         sync.Mutex
	procs      *lru[procKey, *Info] // what the cgroup path says; nil: nothing
	containers *lru[string, ctrEntry]
	st         Stats

	lookupMu sync.Mutex // one runtime request at a time
}

type procKey struct {
	pid     uint32
	startNS uint64
}

type ctrEntry struct {
	info    *Info
	retryAt time.Time // zero: complete
}

// New makes a Resolver.
func New(o Options) *Resolver {
	o.defaults()
	r := &Resolver{
		o:          o,
		bundles:    bundles{containerd: o.ContainerdState, crio: o.CRIOState},
		now:        time.Now,
		procs:      newLRU[procKey, *Info](o.MaxProcesses),
		containers: newLRU[string, ctrEntry](o.MaxContainers),
	}
	if o.DockerSocket != "" {
		r.docker = newDockerAPI(o.DockerSocket, o.Timeout)
	}
	if o.PodmanSocket != "" {
		r.podman = newDockerAPI(o.PodmanSocket, o.Timeout)
	}
	if o.ContainerdSocket != "" {
		r.cri = newCRIAPI(o.ContainerdSocket)
	}
	if o.CRIOSocket != "" {
		r.crio = newCRIAPI(o.CRIOSocket)
	}
	return r
}

// Process returns what is known of the container, pod and unit of the
// process pid that started at startNS (its start_ns), or nil when none
// applies or the process is gone and was never seen. A process is read
// from /proc once; its container's names are asked of the runtime once per
// container.
func (r *Resolver) Process(pid uint32, startNS uint64) *Info {
	if pid == 0 {
		return nil
	}
	k := procKey{pid, startNS}
	r.mu.Lock()
	path, ok := r.procs.get(k)
	if ok {
		r.st.ProcessHits++
	} else {
		r.st.ProcessMisses++
	}
	r.mu.Unlock()
	if !ok {
		data, err := os.ReadFile(filepath.Join(r.o.ProcRoot, strconv.FormatUint(uint64(pid), 10), "cgroup"))
		if err != nil {
			r.mu.Lock()
			r.st.Unresolved++
			if errors.Is(err, fs.ErrNotExist) {
				// gone for good: pid and start time name it alone
				r.procs.put(k, nil)
			}
			r.mu.Unlock()
			return nil
		}
		info, err := ParseProcCgroup(data)
		if err != nil {
			r.o.Logger.Debug("reading a process's cgroups", "pid", pid, "err", err)
		}
		if !info.IsZero() {
			path = &info
		}
		r.mu.Lock()
		r.procs.put(k, path)
		r.mu.Unlock()
	}
	if path == nil || path.ID == "" {
		return path
	}
	return r.container(path)
}

// ProcessNow is Process for a process whose start time is unknown: its
// cgroups are read every time (a pid alone may name another process by
// the next call); its container's names still come from the cache.
func (r *Resolver) ProcessNow(pid uint32) *Info {
	data, err := os.ReadFile(filepath.Join(r.o.ProcRoot, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return nil
	}
	info, _ := ParseProcCgroup(data)
	switch {
	case info.IsZero():
		return nil
	case info.ID == "":
		return &info
	}
	return r.container(&info)
}

// container returns the full Info of the container that path names,
// asking its runtime on a miss.
func (r *Resolver) container(path *Info) *Info {
	r.mu.Lock()
	e, ok := r.containers.get(path.ID)
	r.mu.Unlock()
	if ok && (e.retryAt.IsZero() || r.now().Before(e.retryAt)) {
		return e.info
	}
	r.lookupMu.Lock()
	defer r.lookupMu.Unlock()
	// another caller may have asked while this one waited
	r.mu.Lock()
	e, ok = r.containers.get(path.ID)
	r.mu.Unlock()
	if ok && (e.retryAt.IsZero() || r.now().Before(e.retryAt)) {
		return e.info
	}
	info := *path
	ctx, cancel := context.WithTimeout(context.Background(), r.o.Timeout)
	defer cancel()
	asked, err := r.lookup(ctx, &info)
	e = ctrEntry{info: &info}
	r.mu.Lock()
	if asked {
		r.st.Lookups++
	}
	if err != nil {
		r.st.LookupErrors++
		e.retryAt = r.now().Add(r.o.RetryAfter)
	}
	r.containers.put(path.ID, e)
	r.mu.Unlock()
	if err != nil {
		r.o.Logger.Debug("asking the container runtime", "container_id", path.ID, "runtime", path.Runtime, "err", err)
	}
	return e.info
}

// lookup fills info from the runtime its path names. asked: a runtime was
// asked.
func (r *Resolver) lookup(ctx context.Context, info *Info) (asked bool, err error) {
	var apis []*dockerAPI
	var cris []*criAPI
	switch info.Runtime {
	case "docker":
		apis = append(apis, r.docker)
	case "cri":
		// kubelet under a cgroupfs driver: cri-dockerd, containerd
		// or CRI-O
		apis = append(apis, r.docker)
		cris = append(cris, r.cri, r.crio)
	case "containerd":
		cris = append(cris, r.cri)
	case "cri-o":
		cris = append(cris, r.crio)
	case "podman":
		apis = append(apis, r.podman)
	}
	for _, c := range cris {
		if c == nil || !c.present() {
			continue
		}
		if now := r.now(); now.Before(c.downUntil) {
			err = fmt.Errorf("%s did not answer: not asked again until %s", c.socket, c.downUntil.Format(time.TimeOnly))
			continue
		}
		asked = true
		var down bool
		if down, err = c.container(ctx, info.ID, info); err == nil {
			return true, nil
		}
		if down {
			c.downUntil = r.now().Add(r.o.RetryAfter)
		}
	}
	for _, api := range apis {
		if api == nil || !api.present() {
			continue
		}
		if now := r.now(); now.Before(api.downUntil) {
			// a runtime that did not answer is not waited for again
			// before RetryAfter: the collectors' readers wait meanwhile
			err = fmt.Errorf("%s did not answer: not asked again until %s", api.socket, api.downUntil.Format(time.TimeOnly))
			continue
		}
		asked = true
		err = api.container(ctx, info.ID, info)
		var status *statusError
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, errNotFound), errors.As(err, &status):
		default:
			api.downUntil = r.now().Add(r.o.RetryAfter)
		}
	}
	if info.Runtime != "docker" {
		switch berr := r.bundles.container(info.ID, info.Runtime, info); {
		case berr == nil:
			return true, nil
		case !errors.Is(berr, errNotFound):
			return true, berr
		}
	}
	return asked, err
}

// Close closes the connections to CRI services.
func (r *Resolver) Close() error {
	var errs []error
	for _, c := range []*criAPI{r.cri, r.crio} {
		if c != nil {
			errs = append(errs, c.close())
		}
	}
	return errors.Join(errs...)
}

// Refresh drops what is cached of a process, so that it is read again:
// a process moved to another cgroup before its exec (as a container's
// first process is) must be read after it.
func (r *Resolver) Refresh(pid uint32, startNS uint64) {
	r.mu.Lock()
	r.procs.remove(procKey{pid, startNS})
	r.mu.Unlock()
}

// Forget drops a container from the cache: the next process seen in it
// asks its runtime again.
func (r *Resolver) Forget(id string) {
	r.mu.Lock()
	r.containers.remove(id)
	r.mu.Unlock()
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.ProcessEvictions, s.ContainerEvictions = r.procs.evictions, r.containers.evictions
	s.Processes, s.Containers = r.procs.len(), r.containers.len()
	return s
}

// Watch follows the Docker Engine's container events until ctx is done,
// so that a renamed container is asked again and a started one is named
// before its processes are seen. Without a Docker socket it
// returns at once; a broken stream is retried with backoff.
func (r *Resolver) Watch(ctx context.Context) {
	r.followDocker(ctx, time.Second, []string{"start", "rename"}, func(id string) {
		// A removed container is not forgotten: its processes' last
		// events may be read after it is gone; the LRU bounds the cache.
		r.Forget(id)
		r.container(&Info{ID: id, Runtime: "docker"})
	})
}
