package profile

import (
	"context"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	prof "github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/symbolize"
)

// rememberEvery is how often Windows also lists the processes sampled, for
// those whose announcement was lost.
const rememberEvery = 2 * time.Second

// Windows is the profiler as the agent runs it: a prof.Source whose
// windows are symbolized profiles. Every process is remembered for
// symbolization while it runs (when first sampled, and from a listing of
// the sampled processes every rememberEvery), so that its stacks still
// symbolize after it exits.
type Windows struct {
	*Profiler
	settings Settings
	sym      *symbolize.Symbolizer

	mu    sync.Mutex
	seen  map[uint32]bool // processes remembered
	start time.Time       // of the current window

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ prof.Source = (*Windows)(nil)

// NewWindows returns the agent's profiler; Start loads and attaches it.
func NewWindows(cfg collector.Config, s Settings) (*Windows, error) {
	if s.Hz == 0 {
		s.Hz = DefaultHz
	}
	if s.Window == 0 {
		s.Window = DefaultWindow
	}
	w := &Windows{settings: s, sym: symbolize.New(), seen: map[uint32]bool{}}
	p, err := NewProfiler(cfg, Options{Hz: s.Hz, OffCPU: s.OffCPU, OnNewProcess: w.newProcess})
	if err != nil {
		return nil, err
	}
	w.Profiler = p
	return w, nil
}

// Start starts the profiler and the first window.
func (w *Windows) Start(ctx context.Context, sink event.Sink) error {
	if err := w.Profiler.Start(ctx, sink); err != nil {
		return err
	}
	w.mu.Lock()
	w.start = time.Now()
	w.mu.Unlock()
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go w.rememberLoop()
	return nil
}

// Every implements prof.Source.
func (w *Windows) Every() time.Duration { return w.settings.Window }

// Window implements prof.Source: the stacks counted since the previous
// window, symbolized, and the counts reset.
func (w *Windows) Window() (*prof.Profile, error) {
	w.rememberListed()
	samples, err := w.Read(true)
	now := time.Now()
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	start := w.start
	w.start = now
	w.mu.Unlock()
	p := Build(w.sym, samples, w.settings.Hz, w.settings.OffCPU, start, now.Sub(start))
	w.forgetExited()
	return p, nil
}

// Close stops remembering processes, then closes the profiler.
func (w *Windows) Close() error {
	w.closeOnce.Do(func() {
		if w.stop != nil {
			close(w.stop)
			<-w.done
		}
	})
	return w.Profiler.Close()
}

func (w *Windows) rememberLoop() {
	defer close(w.done)
	t := time.NewTicker(rememberEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.rememberListed()
		}
	}
}

// newProcess is the profiler's OnNewProcess: the process runs now, so its
// memory map can be read; it then symbolizes after it exits.
func (w *Windows) newProcess(pid uint32, _ string) {
	w.sym.Remember(pid)
	w.mu.Lock()
	w.seen[pid] = true
	w.mu.Unlock()
}

// rememberListed remembers the sampled processes not announced.
func (w *Windows) rememberListed() {
	pids, _ := w.PIDs()
	for _, pid := range pids {
		w.mu.Lock()
		known := w.seen[pid]
		w.seen[pid] = true
		w.mu.Unlock()
		if pid != 0 && !known {
			w.sym.Remember(pid)
		}
	}
}

// forgetExited drops the processes that are gone: their stacks are
// symbolized by now.
func (w *Windows) forgetExited() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for pid := range w.seen {
		if _, err := os.Stat("/proc/" + strconv.FormatUint(uint64(pid), 10)); err != nil {
			w.sym.Forget(pid)
			delete(w.seen, pid)
		}
	}
}
