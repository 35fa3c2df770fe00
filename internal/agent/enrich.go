package agent

import (
	"context"
	"strconv"

	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/metrics"
)

// labelled gives the per-process families of a metrics source (those with
// pid and start labels) the container labels (container.Fields) of each
// series' process. A process has one container, pod and unit: the labels
// add no series.
type labelled struct {
	src   metrics.Source
	r     *container.Resolver
	descs []*metrics.Desc
	ext   map[*metrics.Desc]labelledDesc
	inner metrics.Emitter
}

type labelledDesc struct {
	d          *metrics.Desc
	pid, start int // label indexes
}

// newLabelled wraps src; ext maps each family to its labelled one, shared
// by every source that describes the same family.
func newLabelled(src metrics.Source, r *container.Resolver, ext func(*metrics.Desc) *metrics.Desc) metrics.Source {
	l := &labelled{src: src, r: r, ext: map[*metrics.Desc]labelledDesc{}}
	for _, d := range src.Describe() {
		pid, start := index(d.Labels, "pid"), index(d.Labels, "start")
		if pid < 0 || start < 0 {
			l.descs = append(l.descs, d)
			continue
		}
		x := ext(d)
		l.ext[d] = labelledDesc{d: x, pid: pid, start: start}
		l.descs = append(l.descs, x)
	}
	if len(l.ext) == 0 {
		return src
	}
	return l
}

func index(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}

func (l *labelled) Describe() []*metrics.Desc { return l.descs }

func (l *labelled) Collect(e *metrics.Emitter) error {
	l.inner.Reset()
	err := l.src.Collect(&l.inner)
	for _, s := range l.inner.Samples {
		x, ok := l.ext[s.Desc]
		if !ok {
			e.Samples = append(e.Samples, s)
			continue
		}
		var info *container.Info
		pid, perr := strconv.ParseUint(s.Values[x.pid], 10, 32)
		start, serr := strconv.ParseUint(s.Values[x.start], 10, 64)
		if perr == nil && serr == nil {
			info = l.r.Process(uint32(pid), start)
		}
		v := info.Values()
		s.Desc = x.d
		s.Values = append(append(make([]string, 0, len(x.d.Labels)), s.Values...), v[:]...)
		e.Samples = append(e.Samples, s)
	}
	return err
}

// startEnrich starts the container resolver and its watch of the
// runtime's events.
func (s *sinks) startEnrich(ctx context.Context, o container.Options) {
	s.containers = container.New(o)
	ctx, s.stopWatch = context.WithCancel(ctx)
	go s.containers.Watch(ctx)
}

// orNone is a configured socket as container.Options takes it: "" there
// is the default, "-" none.
func orNone(socket string) string {
	if socket == "" {
		return "-"
	}
	return socket
}

// stopEnrich stops the watch of the runtime's events.
func (s *sinks) stopEnrich() {
	if s != nil && s.stopWatch != nil {
		s.stopWatch()
		s.containers.Close()
	}
}

// labelSource is src with container labels on its per-process families;
// src itself without a resolver (--check).
func (s *sinks) labelSource(src metrics.Source) metrics.Source {
	if s == nil || s.containers == nil || src == nil {
		return src
	}
	return newLabelled(src, s.containers, s.labelledDesc)
}

// labelledDesc returns d with the container labels, the same for every
// source that describes d.
func (s *sinks) labelledDesc(d *metrics.Desc) *metrics.Desc {
	s.descMu.Lock()
	defer s.descMu.Unlock()
	if x, ok := s.descs[d]; ok {
		return x
	}
	x := *d
	x.Labels = append(append([]string(nil), d.Labels...), container.Fields...)
	if s.descs == nil {
		s.descs = map[*metrics.Desc]*metrics.Desc{}
	}
	s.descs[d] = &x
	return &x
}

// containerStats exposes the resolver's caches as kscope_self_container_*.
type containerStats struct {
	r                                 *container.Resolver
	entries, evictions, lookups, fail *metrics.Desc
	unresolved                        *metrics.Desc
}

func newContainerStats(r *container.Resolver) *containerStats {
	return &containerStats{
		r:          r,
		entries:    metrics.NewGauge("kscope_self_container_cache_entries", "Entries in the container resolver's caches: processes (by pid and start time) and containers (by id).", "cache"),
		evictions:  metrics.NewCounter("kscope_self_container_cache_evictions_total", "Entries the container resolver's caches evicted, least recently used first, to stay within their bounds.", "cache"),
		lookups:    metrics.NewCounter("kscope_self_container_lookups_total", "Requests to container runtimes (the Docker Engine API, containerd and CRI-O bundles) for a container's names."),
		fail:       metrics.NewCounter("kscope_self_container_lookup_failures_total", "Requests to container runtimes that failed; the container keeps what its cgroup path says until asked again."),
		unresolved: metrics.NewCounter("kscope_self_container_unresolved_total", "Processes gone before the container resolver could read their cgroups: their events and series have no container labels."),
	}
}

func (c *containerStats) Describe() []*metrics.Desc {
	return []*metrics.Desc{c.entries, c.evictions, c.lookups, c.fail, c.unresolved}
}

func (c *containerStats) Collect(e *metrics.Emitter) error {
	st := c.r.Stats()
	e.Gauge(c.entries, float64(st.Processes), "processes")
	e.Gauge(c.entries, float64(st.Containers), "containers")
	e.Counter(c.evictions, float64(st.ProcessEvictions), "processes")
	e.Counter(c.evictions, float64(st.ContainerEvictions), "containers")
	e.Counter(c.lookups, float64(st.Lookups))
	e.Counter(c.fail, float64(st.LookupErrors))
	e.Counter(c.unresolved, float64(st.Unresolved))
	return nil
}
