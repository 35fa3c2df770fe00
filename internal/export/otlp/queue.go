package otlp

import "sync"

// signal is the OTLP signal a request carries.
type signal uint8

const (
	sigMetrics signal = iota
	sigLogs
	sigProfiles
)

func (s signal) String() string {
	return [...]string{"metrics", "logs", "profiles"}[s]
}

// request is one encoded export request: n samples (data points, log
// records or profile samples) of one signal.
type request struct {
	sig  signal
	data []byte
	n    int
}

// queue holds the requests waiting to be sent, oldest first, within a
// budget of bytes: past it the oldest are dropped and counted. The one
// being sent is out of the queue (and out of reach of the budget) but
// still counted in its depth.
type queue struct {
	mu       sync.Mutex
	reqs     []request
	head     int
	bytes    int64
	samples  int
	inflight int // samples of the request being sent
	maxBytes int64
	dropped  uint64 // samples dropped for the budget
	wake     chan struct{}
}

func newQueue(maxBytes int64) *queue {
	return &queue{maxBytes: maxBytes, wake: make(chan struct{}, 1)}
}

// push queues r, dropping the oldest requests (or r itself, if it alone
// is over the budget) to stay within it; it returns the samples dropped.
func (q *queue) push(r request) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	size := int64(len(r.data))
	if size > q.maxBytes {
		q.dropped += uint64(r.n)
		return r.n
	}
	dropped := 0
	for q.bytes+size > q.maxBytes && q.head < len(q.reqs) {
		old := q.reqs[q.head]
		q.reqs[q.head] = request{}
		q.head++
		q.bytes -= int64(len(old.data))
		q.samples -= old.n
		dropped += old.n
	}
	q.dropped += uint64(dropped)
	if q.head > 0 && q.head == len(q.reqs) {
		q.reqs, q.head = q.reqs[:0], 0
	}
	q.reqs = append(q.reqs, r)
	q.bytes += size
	q.samples += r.n
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return dropped
}

// pop takes the oldest request out to send it; done must follow.
func (q *queue) pop() (request, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.reqs) {
		return request{}, false
	}
	r := q.reqs[q.head]
	q.reqs[q.head] = request{}
	q.head++
	if q.head == len(q.reqs) {
		q.reqs, q.head = q.reqs[:0], 0
	}
	q.bytes -= int64(len(r.data))
	q.samples -= r.n
	q.inflight = r.n
	return r, true
}

// done ends the send of the popped request.
func (q *queue) done() {
	q.mu.Lock()
	q.inflight = 0
	q.mu.Unlock()
}

// stats: the samples waiting (the one being sent included), the bytes
// queued, the requests queued and the samples dropped for the budget.
func (q *queue) stats() (samples int, bytes int64, reqs int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.samples + q.inflight, q.bytes, len(q.reqs) - q.head, q.dropped
}
