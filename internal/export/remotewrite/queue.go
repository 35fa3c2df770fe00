package remotewrite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// queue is a bounded queue of write requests on disk: one file per
// request, named by its sequence number and sample count
// (00000000000000000042-500.rw; .rw2 for remote-write 2.0), written to a temporary name and renamed
// into place, so a file that is there is whole. It survives a restart:
// opening the directory again finds what was not sent. Past maxBytes the
// oldest requests are deleted and their samples counted as dropped; the
// request being sent is never deleted that way.
type queue struct {
	dir      string
	maxBytes int64
	wake     chan struct{} // a request was pushed

	mu       sync.Mutex
	entries  []entry // oldest first
	next     uint64
	bytes    int64
	samples  int64
	inflight bool // entries[0] is being sent
	dropped  uint64
}

type entry struct {
	seq     uint64
	samples int
	v2      bool // a remote-write 2.0 request (.rw2), not 1.0 (.rw)
	size    int64
}

func (e entry) name() string {
	suffix := ".rw"
	if e.v2 {
		suffix = ".rw2"
	}
	return fmt.Sprintf("%020d-%d%s", e.seq, e.samples, suffix)
}

// parseName reads a queue file's name; ok is false for other files.
func parseName(name string) (entry, bool) {
	base, ok := strings.CutSuffix(name, ".rw")
	v2 := false
	if !ok {
		base, ok = strings.CutSuffix(name, ".rw2")
		v2 = true
	}
	if !ok {
		return entry{}, false
	}
	seqText, nText, ok := strings.Cut(base, "-")
	if !ok {
		return entry{}, false
	}
	seq, err1 := strconv.ParseUint(seqText, 10, 64)
	n, err2 := strconv.Atoi(nText)
	if err1 != nil || err2 != nil || n < 0 {
		return entry{}, false
	}
	return entry{seq: seq, samples: n, v2: v2}, true
}

// openQueue opens (creating it if need be) the queue in dir, with what a
// previous run left there.
func openQueue(dir string, maxBytes int64) (*queue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the queue directory: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the queue directory: %w", err)
	}
	q := &queue{dir: dir, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".tmp") {
			os.Remove(filepath.Join(dir, de.Name())) // an interrupted push
			continue
		}
		e, ok := parseName(de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		e.size = info.Size()
		q.entries = append(q.entries, e)
		q.bytes += e.size
		q.samples += int64(e.samples)
	}
	sort.Slice(q.entries, func(i, j int) bool { return q.entries[i].seq < q.entries[j].seq })
	if n := len(q.entries); n > 0 {
		q.next = q.entries[n-1].seq + 1
	}
	q.mu.Lock()
	q.evictLocked(0)
	q.mu.Unlock()
	return q, nil
}

// push appends a request of samples samples (a 2.0 one if v2). A request
// larger than the whole budget is dropped (and counted).
func (q *queue) push(data []byte, samples int, v2 bool) error {
	size := int64(len(data))
	q.mu.Lock()
	if size > q.maxBytes {
		q.dropped += uint64(samples)
		q.mu.Unlock()
		return fmt.Errorf("a request of %d bytes is larger than the queue's %d bytes", size, q.maxBytes)
	}
	e := entry{seq: q.next, samples: samples, v2: v2, size: size}
	q.next++
	q.mu.Unlock()

	path := filepath.Join(q.dir, e.name())
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		os.Remove(tmp)
		q.mu.Lock()
		q.dropped += uint64(samples)
		q.mu.Unlock()
		return fmt.Errorf("writing to the queue: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.evictLocked(size)
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		q.dropped += uint64(samples)
		return fmt.Errorf("writing to the queue: %w", err)
	}
	// Sequence numbers are taken in order but pushes may finish out of
	// it: keep the entries sorted.
	i := sort.Search(len(q.entries), func(i int) bool { return q.entries[i].seq > e.seq })
	if i == 0 && q.inflight {
		i = 1
	}
	q.entries = append(q.entries, entry{})
	copy(q.entries[i+1:], q.entries[i:])
	q.entries[i] = e
	q.bytes += size
	q.samples += int64(samples)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// evictLocked deletes the oldest requests, but not one being sent, until
// extra more bytes fit in the budget.
func (q *queue) evictLocked(extra int64) {
	first := 0
	if q.inflight {
		first = 1
	}
	for q.bytes+extra > q.maxBytes && len(q.entries) > first {
		e := q.entries[first]
		os.Remove(filepath.Join(q.dir, e.name()))
		q.entries = append(q.entries[:first], q.entries[first+1:]...)
		q.bytes -= e.size
		q.samples -= int64(e.samples)
		q.dropped += uint64(e.samples)
	}
}

// peek returns the oldest request, which is then being sent until done.
func (q *queue) peek() (entry, []byte, bool) {
	for {
		q.mu.Lock()
		if len(q.entries) == 0 {
			q.mu.Unlock()
			return entry{}, nil, false
		}
		e := q.entries[0]
		q.inflight = true
		q.mu.Unlock()
		data, err := os.ReadFile(filepath.Join(q.dir, e.name()))
		if err == nil {
			return e, data, true
		}
		// Deleted or unreadable behind our back: count it lost.
		q.done(e)
		if !errors.Is(err, fs.ErrNotExist) {
			q.mu.Lock()
			q.dropped += uint64(e.samples)
			q.mu.Unlock()
		}
	}
}

// done removes e, the request peek returned.
func (q *queue) done(e entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inflight = false
	if len(q.entries) == 0 || q.entries[0].seq != e.seq {
		return
	}
	os.Remove(filepath.Join(q.dir, e.name()))
	q.entries = q.entries[1:]
	q.bytes -= e.size
	q.samples -= int64(e.samples)
}

// release ends sending e without removing it: it is sent again later.
func (q *queue) release() {
	q.mu.Lock()
	q.inflight = false
	q.mu.Unlock()
}

// stats is the queue's depth and what it dropped.
func (q *queue) stats() (samples, bytes int64, requests int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.samples, q.bytes, len(q.entries), q.dropped
}
