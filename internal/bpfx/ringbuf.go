package bpfx

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// Stat indexes of the per-CPU "stats" array every kscope program carries
// (bpf/include/kscope.h).
const (
	StatLost     = 0
	StatFiltered = 1
	// StatUnreadable counts events sent with a string that could not be
	// read from user memory (and say so in a field).
	StatUnreadable = 2
)

// Counter reads one index of the per-CPU stats array, summed over CPUs.
func Counter(stats *ebpf.Map, idx uint32) (uint64, error) {
	var perCPU []uint64
	if err := stats.Lookup(idx, &perCPU); err != nil {
		return 0, fmt.Errorf("reading stats[%d]: %w", idx, err)
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n, nil
}

// Counters reads the per-CPU stats array and sums it over CPUs.
func Counters(stats *ebpf.Map) (lost, filtered uint64, err error) {
	var perCPU []uint64
	for idx, dst := range map[uint32]*uint64{StatLost: &lost, StatFiltered: &filtered} {
		if err := stats.Lookup(idx, &perCPU); err != nil {
			return 0, 0, fmt.Errorf("reading stats[%d]: %w", idx, err)
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	return lost, filtered, nil
}

// RingReader drains a BPF ring buffer on its own goroutine.
//
// Programs submit without waking the reader until enough data waits
// (kscope.h's wakeup_bytes), so the reader also wakes every FlushEvery to
// pick up a trickle of events and to let the consumer flush its output.
type RingReader struct {
	rd   *ringbuf.Reader
	done chan struct{}
	once sync.Once
	err  error
}

// FlushEvery bounds how long an event can wait in the ring buffer, unless
// the reader is started with another bound.
const FlushEvery = 50 * time.Millisecond

// StartRingReader opens a reader on m and calls handle for every record and
// idle whenever the ring buffer was drained. handle must not keep the slice.
// The loop runs until Drain or Close: stopping on a cancelled context would
// drop the records still waiting in the ring buffer.
func StartRingReader(m *ebpf.Map, handle func([]byte), idle func()) (*RingReader, error) {
	return StartRingReaderEvery(m, FlushEvery, handle, idle)
}

// StartRingReaderEvery is StartRingReader with the wait bound every: a
// longer one costs fewer wakeups when events trickle in.
func StartRingReaderEvery(m *ebpf.Map, every time.Duration, handle func([]byte), idle func()) (*RingReader, error) {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return nil, fmt.Errorf("opening ring buffer: %w", err)
	}
	r := &RingReader{rd: rd, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var rec ringbuf.Record
		for {
			rd.SetDeadline(time.Now().Add(every))
			err := rd.ReadInto(&rec)
			switch {
			case err == nil:
				handle(rec.RawSample)
				if rec.Remaining == 0 && idle != nil {
					idle()
				}
			case errors.Is(err, os.ErrDeadlineExceeded):
				if idle != nil {
					idle()
				}
			case errors.Is(err, ringbuf.ErrFlushed):
				if idle != nil {
					idle()
				}
				return // Drain: everything that was there has been handled
			case errors.Is(err, os.ErrClosed):
				return
			default:
				r.err = err
				return
			}
		}
	}()
	return r, nil
}

// Drain reads what is left in the ring buffer without waiting, then stops
// the reader. Call it after detaching the programs so no event is lost on
// shutdown.
func (r *RingReader) Drain() error {
	r.once.Do(func() {
		r.rd.Flush() // makes a pending or future ReadInto return what is left, then ErrFlushed
		select {
		case <-r.done:
		case <-time.After(2 * time.Second):
		}
		r.rd.Close()
		<-r.done
	})
	return r.err
}

// Close stops the reader without draining.
func (r *RingReader) Close() error {
	r.once.Do(func() {
		r.rd.Close()
		<-r.done
	})
	return r.err
}
