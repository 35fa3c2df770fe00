package container

import (
	"sync/atomic"

	"github.com/kscope/kscope/internal/event"
)

// Sink is an event.Sink stage: each event gets the container, pod and unit
// fields of its process (Fields, after its own fields, each where it
// applies), and, with a Filter, only the events of the processes it
// selects go on.
type Sink struct {
	r       *Resolver
	f       Filter
	next    event.Sink
	dropped atomic.Uint64
}

// NewSink makes a Sink that hands events to next.
func NewSink(r *Resolver, f Filter, next event.Sink) *Sink {
	return &Sink{r: r, f: f, next: next}
}

// Emit enriches ev and hands it on, unless the filter drops it.
func (s *Sink) Emit(ev event.Event) {
	h := ev.Hdr()
	if h.Type == "exec" {
		// a container's first process moved into its cgroups before
		// this exec: what was read of it before may be stale
		s.r.Refresh(h.PID, h.StartNS)
	}
	info := s.r.Process(h.PID, h.StartNS)
	if !s.f.Match(info) {
		s.dropped.Add(1)
		return
	}
	if info.IsZero() {
		s.next.Emit(ev)
		return
	}
	s.next.Emit(&enriched{Event: ev, info: info})
}

// Flush flushes the next sink.
func (s *Sink) Flush() { s.next.Flush() }

// Dropped counts the events the filter dropped.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

// enriched is an event with its process's container fields appended.
type enriched struct {
	event.Event
	info *Info
}

func (e *enriched) AppendFields(b []byte) []byte {
	return e.info.AppendJSON(e.Event.AppendFields(b))
}
