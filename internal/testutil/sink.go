package testutil

import (
	"sync"
	"time"

	"github.com/kscope/kscope/internal/event"
)

// Capture is an event.Sink that keeps a copy of every event, since
// collectors reuse their event values.
type Capture struct {
	mu     sync.Mutex
	events []event.Event
	notify chan struct{}
}

// NewCapture returns an empty Capture.
func NewCapture() *Capture { return &Capture{notify: make(chan struct{}, 1)} }

// Emit implements event.Sink.
func (c *Capture) Emit(ev event.Event) {
	var cp event.Event
	switch e := ev.(type) {
	case *event.Exec:
		v := *e
		v.Argv = append([]string(nil), e.Argv...)
		cp = &v
	case *event.Exit:
		v := *e
		cp = &v
	case *event.Open:
		v := *e
		cp = &v
	case *event.Connect:
		v := *e
		cp = &v
	case *event.OOM:
		v := *e
		cp = &v
	case *event.Signal:
		v := *e
		cp = &v
	case *event.HTTP:
		v := *e
		cp = &v
	case interface{ Clone() event.Event }:
		cp = e.Clone()
	default:
		panic("testutil: unknown event type")
	}
	c.mu.Lock()
	c.events = append(c.events, cp)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Flush implements event.Sink.
func (c *Capture) Flush() {}

// Events returns a copy of the events so far.
func (c *Capture) Events() []event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.Event(nil), c.events...)
}

// WaitFor waits up to timeout for an event matching ok and returns it.
func (c *Capture) WaitFor(timeout time.Duration, ok func(event.Event) bool) (event.Event, bool) {
	deadline := time.After(timeout)
	for {
		for _, ev := range c.Events() {
			if ok(ev) {
				return ev, true
			}
		}
		select {
		case <-c.notify:
		case <-deadline:
			return nil, false
		case <-time.After(20 * time.Millisecond):
		}
	}
}
