package agent

import (
	"context"
	"os"
	"strconv"
	"sync"
	"time"

	cprofile "github.com/kscope/kscope/internal/collector/profile"
	"github.com/kscope/kscope/internal/symbolize"
)

// rememberEvery is how often the profile recorder also lists the processes
// sampled, for those whose announcement was lost.
const rememberEvery = 2 * time.Second

// profileRecorder symbolizes and stores the profile collector's counts.
type profileRecorder struct {
	sym  *symbolize.Symbolizer
	mu   sync.Mutex
	seen map[uint32]bool // processes remembered
}

func newProfileRecorder() *profileRecorder {
	return &profileRecorder{sym: symbolize.New(), seen: map[uint32]bool{}}
}

// newProcess is the profiler's OnNewProcess: the process runs now, so its
// memory map can be read; it then symbolizes after it exits.
func (r *profileRecorder) newProcess(pid uint32, _ string) {
	r.sym.Remember(pid)
	r.mu.Lock()
	r.seen[pid] = true
	r.mu.Unlock()
}

// rememberListed remembers the sampled processes not announced.
func (r *profileRecorder) rememberListed(p *cprofile.Profiler) {
	pids, _ := p.PIDs()
	for _, pid := range pids {
		r.mu.Lock()
		known := r.seen[pid]
		r.seen[pid] = true
		r.mu.Unlock()
		if pid != 0 && !known {
			r.sym.Remember(pid)
		}
	}
}

// forgetExited drops the processes that are gone: their stacks are
// symbolized by now.
func (r *profileRecorder) forgetExited() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pid := range r.seen {
		if _, err := os.Stat("/proc/" + strconv.FormatUint(uint64(pid), 10)); err != nil {
			r.sym.Forget(pid)
			delete(r.seen, pid)
		}
	}
}

// recordProfiles reads the profiler's counts every window, symbolizes
// them and stores them, until ctx is done; then it stores the last,
// partial window and closes done.
func (a *Agent) recordProfiles(ctx context.Context, r *profileRecorder, p *cprofile.Profiler, hz int, offCPU bool, window time.Duration, done chan<- struct{}) {
	defer close(done)
	start := time.Now()
	store := func() {
		r.rememberListed(p)
		samples, err := p.Read(true)
		now := time.Now()
		if err != nil {
			a.logger.Warn("reading the profiler", "err", err)
			return
		}
		prof := cprofile.Build(r.sym, samples, hz, offCPU, start, now.Sub(start))
		start = now
		if err := a.profiles.Put(context.Background(), prof); err != nil {
			a.logger.Error("storing a profile window", "err", err)
			a.profileErrors.Add(1)
		}
		r.forgetExited()
	}
	win := time.NewTicker(window)
	defer win.Stop()
	rem := time.NewTicker(rememberEvery)
	defer rem.Stop()
	expire := time.NewTicker(time.Minute)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			store()
			return
		case <-rem.C:
			r.rememberListed(p)
		case <-win.C:
			store()
		case <-expire.C:
			a.profiles.Expire()
		}
	}
}
