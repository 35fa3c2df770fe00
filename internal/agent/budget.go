package agent

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/store"
)

// limiter is a collector's event sink that bounds each event type's rate
// with a token bucket: a storm of one kind (every file open on a busy
// host) is cut at the limit and counted, and neither fills the disk nor
// crowds out the collector's other events.
type limiter struct {
	next   eventSink
	budget config.Budget

	mu      sync.Mutex
	buckets map[string]*rate.Limiter // by event type: a collector emits a few

	dropped atomic.Uint64
}

func newLimiter(next eventSink, b config.Budget) *limiter {
	return &limiter{next: next, budget: b, buckets: map[string]*rate.Limiter{}}
}

func (l *limiter) Emit(ev event.Event) {
	typ := ev.Hdr().Type
	l.mu.Lock()
	b := l.buckets[typ]
	if b == nil {
		r, burst := l.budget.EventRate, l.budget.EventBurst
		if t, ok := l.budget.EventTypes[typ]; ok {
			if t.Rate > 0 {
				r = t.Rate
			}
			if t.Burst > 0 {
				burst = t.Burst
			}
		}
		if r <= 0 {
			r = config.DefaultEventRate
		}
		if burst <= 0 {
			burst = config.DefaultEventBurst
		}
		b = rate.NewLimiter(rate.Limit(r), burst)
		l.buckets[typ] = b
	}
	ok := b.Allow()
	l.mu.Unlock()
	if !ok {
		l.dropped.Add(1)
		return
	}
	l.next.Emit(ev)
}

func (l *limiter) Flush() { l.next.Flush() }

// setBudget applies a new budget's rates: every type starts a full bucket.
func (l *limiter) setBudget(b config.Budget) {
	l.mu.Lock()
	l.budget = b
	clear(l.buckets)
	l.mu.Unlock()
}

// eventBudget is the event store's share of the sizes, with b's per-type
// shares.
func eventBudget(s config.Sizes, b config.Budget) store.EventBudget {
	shares := map[string]float64{}
	for typ, t := range b.EventTypes {
		if t.Share > 0 {
			shares[typ] = t.Share
		}
	}
	return store.EventBudget{MaxBytes: s.Events, Shares: shares}
}

// Dropped counts the events over the rate limit.
func (l *limiter) Dropped() uint64 { return l.dropped.Load() }

// filesystemBytes is the size of the filesystem holding dir.
func filesystemBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("reading the size of the filesystem holding %s: %w", dir, err)
	}
	return int64(st.Blocks) * st.Bsize, nil
}
