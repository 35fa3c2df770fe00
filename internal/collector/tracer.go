package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/event"
)

// Tracer is the lifecycle shared by collectors that stream events through
// the "events" ring buffer of kscope.h: load with the filter applied, attach
// every program by its section name, read and decode records, count, and
// close in reverse order.
type Tracer struct {
	cfg  Config
	name string

	// Optional names programs whose hook may be missing on older kernels
	// (e.g. sys_enter_openat2 before 5.6); failing to attach them is logged.
	Optional map[string]bool
	// Replace names maps of the spec that Load takes from elsewhere
	// instead of creating them (the syscall dispatcher's program arrays).
	Replace map[string]*ebpf.Map

	coll    *ebpf.Collection
	closers []io.Closer // closed before the links
	links   bpfx.Links
	reader  *bpfx.RingReader

	events, malformed atomic.Uint64
	// Kernel counters as read at Close, after which the map is gone.
	finalLost, finalFiltered, finalUnreadable atomic.Uint64
	closed                                    atomic.Bool
	life                                      Lifecycle
}

// NewTracer returns a Tracer for the named collector.
func NewTracer(name string, cfg Config) *Tracer {
	return &Tracer{name: name, cfg: cfg}
}

// Config returns the collector's configuration.
func (t *Tracer) Config() Config { return t.cfg }

// Load applies the config to spec and loads it into the kernel.
func (t *Tracer) Load(spec *ebpf.CollectionSpec) error {
	if err := t.cfg.Apply(spec); err != nil {
		return fmt.Errorf("configuring %s: %w", t.name, err)
	}
	coll, err := bpfx.NewCollectionReplacing(spec, t.Replace)
	if err != nil {
		return bpfx.LoadError(t.name, err)
	}
	t.coll = coll
	return nil
}

// Collection returns the loaded collection, for collectors that use their
// own maps.
func (t *Tracer) Collection() *ebpf.Collection { return t.coll }

// AttachAll attaches every program of the collection according to its
// section name: tracepoint/GROUP/NAME, raw_tracepoint/NAME or tp_btf/NAME.
func (t *Tracer) AttachAll(spec *ebpf.CollectionSpec) error {
	for name, ps := range spec.Programs {
		prog := t.coll.Programs[name]
		var (
			l   link.Link
			err error
		)
		switch sec := ps.SectionName; {
		case strings.HasPrefix(sec, "tracepoint/"):
			group, tp, _ := strings.Cut(strings.TrimPrefix(sec, "tracepoint/"), "/")
			l, err = link.Tracepoint(group, tp, prog, nil)
		case strings.HasPrefix(sec, "raw_tracepoint/"):
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: strings.TrimPrefix(sec, "raw_tracepoint/"), Program: prog})
		case strings.HasPrefix(sec, "tp_btf/"):
			l, err = link.AttachTracing(link.TracingOptions{Program: prog})
		default:
			return fmt.Errorf("attaching %s: no attach rule for section %q", name, sec)
		}
		if err != nil {
			if t.Optional[name] && errors.Is(err, os.ErrNotExist) {
				t.cfg.Logger.Info("hook missing on this kernel, skipped", "program", name, "section", ps.SectionName)
				continue
			}
			return fmt.Errorf("attaching %s (%s): %w", name, ps.SectionName, err)
		}
		t.links.Add(l)
	}
	return nil
}

// AddCloser hands the Tracer something to close before it detaches its
// links: the collector's handlers in the syscall dispatcher's slots, say.
func (t *Tracer) AddCloser(c io.Closer) { t.closers = append(t.closers, c) }

// Run starts reading the ring buffer. decode turns a record into the event to
// emit, or returns false for a malformed record. Reading goes on until Close,
// which detaches first and then delivers what is left.
func (t *Tracer) Run(_ context.Context, sink event.Sink, decode func([]byte) (event.Event, bool)) error {
	every := t.cfg.Latency
	if every <= 0 {
		every = bpfx.FlushEvery
	}
	rd, err := bpfx.StartRingReaderEvery(t.coll.Maps["events"], every, func(raw []byte) {
		ev, ok := decode(raw)
		if !ok {
			t.malformed.Add(1)
			return
		}
		t.events.Add(1)
		sink.Emit(ev)
	}, sink.Flush)
	if err != nil {
		return err
	}
	t.reader = rd
	return nil
}

// Stats reads the kernel counters and adds the reader's.
func (t *Tracer) Stats() Stats {
	s := Stats{Events: t.events.Load(), Malformed: t.malformed.Load()}
	if t.closed.Load() {
		s.Lost, s.Filtered, s.Unreadable = t.finalLost.Load(), t.finalFiltered.Load(), t.finalUnreadable.Load()
	} else if t.coll != nil {
		s.Lost, s.Filtered, _ = bpfx.Counters(t.coll.Maps["stats"])
		s.Unreadable, _ = bpfx.Counter(t.coll.Maps["stats"], bpfx.StatUnreadable)
	}
	return s
}

// Close detaches the programs, drains the ring buffer and frees the
// collection. It is idempotent.
func (t *Tracer) Close() error {
	return t.life.Close(func() error {
		var errs []error
		for _, c := range t.closers {
			errs = append(errs, c.Close())
		}
		// The programs are independent: detach them together.
		errs = append(errs, t.links.CloseTogether())
		if t.reader != nil {
			errs = append(errs, t.reader.Drain())
		}
		if t.coll != nil {
			lost, filtered, _ := bpfx.Counters(t.coll.Maps["stats"])
			t.finalLost.Store(lost)
			t.finalFiltered.Store(filtered)
			unreadable, _ := bpfx.Counter(t.coll.Maps["stats"], bpfx.StatUnreadable)
			t.finalUnreadable.Store(unreadable)
			t.closed.Store(true)
			t.coll.Close()
		}
		return errors.Join(errs...)
	})
}
