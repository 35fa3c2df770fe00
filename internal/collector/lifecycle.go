package collector

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Lifecycle is the start-once, close-once state a collector that does more
// than a Tracer keeps: Start may run once and not after Close; Close runs
// its teardown exactly once, even after a failed Start, and every call
// returns its error. The zero value is ready to use.
type Lifecycle struct {
	started, closed atomic.Bool
	closeOnce       sync.Once
	closeErr        error
}

// Start marks the collector started. It fails when it already was, or was
// closed.
func (l *Lifecycle) Start(name string) error {
	if l.closed.Load() || l.started.Swap(true) {
		return fmt.Errorf("%s: started twice or after Close", name)
	}
	return nil
}

// Running reports whether Start was called and Close was not.
func (l *Lifecycle) Running() bool { return l.started.Load() && !l.closed.Load() }

// Closed reports whether Close was called.
func (l *Lifecycle) Closed() bool { return l.closed.Load() }

// Close marks the collector closed and runs teardown the first time; every
// call returns that run's error.
func (l *Lifecycle) Close(teardown func() error) error {
	l.closed.Store(true)
	l.closeOnce.Do(func() { l.closeErr = teardown() })
	return l.closeErr
}
