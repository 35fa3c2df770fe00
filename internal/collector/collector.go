package collector

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/kscope/kscope/internal/event"
)

// Collector is one BPF-backed source of events, metrics or both. One that
// aggregates in the kernel also implements metrics.Source; one that only
// aggregates never emits to its sink.
//
// New only validates its Config; Start loads the programs, attaches them and
// starts delivering events to the sink, returning once attached. Close
// detaches, delivers what is left in the ring buffer and frees everything, in
// reverse order; it is safe to call more than once and after a failed Start.
type Collector interface {
	Name() string
	Start(ctx context.Context, sink event.Sink) error
	Stats() Stats
	Close() error
}

// Stats counts what happened to a collector's events.
type Stats struct {
	Events    uint64 `json:"events"`    // delivered to the sink
	Lost      uint64 `json:"lost"`      // ring buffer (or pending map) full in the kernel
	Filtered  uint64 `json:"filtered"`  // dropped in the kernel by a filter
	Malformed uint64 `json:"malformed"` // records the decoder rejected
	// Unreadable counts events sent with a string the kernel could not read
	// from user memory (the event flags it, e.g. argv_unavailable).
	Unreadable uint64 `json:"unreadable"`
}

// Add sums two Stats.
func (s Stats) Add(o Stats) Stats {
	return Stats{
		Events: s.Events + o.Events, Lost: s.Lost + o.Lost, Filtered: s.Filtered + o.Filtered,
		Malformed: s.Malformed + o.Malformed, Unreadable: s.Unreadable + o.Unreadable,
	}
}

// Filter selects events in the kernel. Zero values select everything.
type Filter struct {
	PID    uint32 // process (tgid)
	UID    *uint32
	Comm   string // exact, as the kernel truncates it (15 bytes)
	Failed bool   // only calls that returned an error
}

// Config is what every collector is built from.
type Config struct {
	Filter Filter
	// RingBytes is the ring buffer size, a power of two of at least a page.
	RingBytes int
	// TopK bounds per-process and per-endpoint metric families to the K
	// most active keys plus an "other" series (see metrics.TopK).
	TopK int
	// MinLive is how many collections must have seen a process alive
	// before it gets per-pid series of its own (see metrics.TopK.MinLive);
	// 0: at once. The agent sets 2: a process must live across a
	// collection interval, the others count per command name.
	MinLive int
	// CountsOnly skips the optional per-call timing and error accounting
	// of collectors that have one (syscalls: sys_exit stays unhooked), for
	// the lowest cost per event.
	CountsOnly bool
	// Latency bounds how long an event may wait in the ring buffer before
	// it is delivered (0: bpfx.FlushEvery, for live output). A daemon that
	// stores events can wait longer and wake less.
	Latency time.Duration
	Logger  *slog.Logger
}

// Defaults for what Config leaves zero.
const (
	DefaultRingBytes = 8 << 20
	DefaultTopK      = 50
)

// New builds the named collector with its default options.
func New(name string, cfg Config) (Collector, error) {
	return NewWith(name, cfg, nil)
}

// NewWith builds the named collector with opts, a value of its Spec's
// Options type (nil: the defaults).
func NewWith(name string, cfg Config, opts any) (Collector, error) {
	s, ok := Lookup(name)
	if !ok || s.New == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknown, name)
	}
	if opts == nil {
		opts = s.Options
	} else if s.Options == nil || reflect.TypeOf(opts) != reflect.TypeOf(s.Options) {
		return nil, fmt.Errorf("collector %s: options of type %T, want %T", name, opts, s.Options)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = cfg.Logger.With("collector", name)
	if cfg.RingBytes == 0 {
		cfg.RingBytes = DefaultRingBytes
	}
	if cfg.TopK == 0 {
		cfg.TopK = DefaultTopK
	}
	if cfg.TopK < 0 {
		return nil, fmt.Errorf("top-K %d: must be positive", cfg.TopK)
	}
	if cfg.RingBytes < 4096 || cfg.RingBytes&(cfg.RingBytes-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d: must be a power of two of at least 4096", cfg.RingBytes)
	}
	if len(cfg.Filter.Comm) > 15 {
		return nil, fmt.Errorf("comm %q: longer than the kernel's 15 bytes", cfg.Filter.Comm)
	}
	return s.New(cfg, opts)
}
