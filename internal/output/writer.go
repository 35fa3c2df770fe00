package output

import (
	"io"
	"sync"

	"github.com/kscope/kscope/internal/event"
)

// Writer is an event.Sink that prints events as a table or JSON lines. It
// buffers output and writes it out when the collector's ring buffer is
// drained (Flush) or the buffer grows past 64 KiB.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	json   bool
	buf    []byte
	header bool // header printed
	err    error
	// OnEvent, if set, is called after each event is rendered (e.g. to stop
	// after --count events).
	OnEvent func()
}

// NewWriter returns a sink that writes to w, as JSON lines if json is set.
func NewWriter(w io.Writer, json bool) *Writer {
	return &Writer{w: w, json: json, buf: make([]byte, 0, 128<<10)}
}

// Header writes the table header for kind now (nothing for JSON), so that
// people see it before the first event arrives.
func (o *Writer) Header(kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := event.LookupKind(kind)
	if o.json || o.header || k == nil {
		return
	}
	o.header = true
	o.buf = appendHeader(o.buf, k)
	o.flushLocked()
}

// Emit implements event.Sink.
func (o *Writer) Emit(ev event.Event) {
	o.mu.Lock()
	if o.json {
		o.buf = event.AppendJSON(o.buf, ev)
		o.buf = append(o.buf, '\n')
	} else {
		if !o.header {
			o.header = true
			o.buf = appendHeader(o.buf, ev.Kind())
		}
		o.buf = AppendRow(o.buf, ev)
	}
	if len(o.buf) > 64<<10 {
		o.flushLocked()
	}
	o.mu.Unlock()
	if o.OnEvent != nil {
		o.OnEvent()
	}
}

// Flush implements event.Sink.
func (o *Writer) Flush() {
	o.mu.Lock()
	o.flushLocked()
	o.mu.Unlock()
}

func (o *Writer) flushLocked() {
	if len(o.buf) == 0 {
		return
	}
	if o.err == nil {
		_, o.err = o.w.Write(o.buf)
	}
	o.buf = o.buf[:0]
}

// Err returns the first write error (e.g. EPIPE when the reader went away).
func (o *Writer) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}
