package agent

import (
	"context"
	"os"
	"strconv"
	"time"

	cprofile "github.com/kscope/kscope/internal/collector/profile"
	"github.com/kscope/kscope/internal/symbolize"
)

// rememberEvery is how often the profile recorder notes the processes
// seen sampling, so that one exiting before its window ends still
// symbolizes.
const rememberEvery = 2 * time.Second

// recordProfiles reads the profiler's counts every window, symbolizes
// them and stores them, until ctx is done; then it stores the last,
// partial window and closes done.
func (a *Agent) recordProfiles(ctx context.Context, p *cprofile.Profiler, hz int, offCPU bool, window time.Duration, done chan<- struct{}) {
	defer close(done)
	sym := symbolize.New()
	seen := map[uint32]bool{}
	remember := func() {
		pids, _ := p.PIDs()
		for _, pid := range pids {
			if pid != 0 && !seen[pid] {
				seen[pid] = true
				sym.Remember(pid)
			}
		}
	}
	start := time.Now()
	store := func() {
		remember()
		samples, err := p.Read(true)
		now := time.Now()
		if err != nil {
			a.logger.Warn("reading the profiler", "err", err)
			return
		}
		prof := cprofile.Build(sym, samples, hz, offCPU, start, now.Sub(start))
		start = now
		if err := a.profiles.Put(context.Background(), prof); err != nil {
			a.logger.Error("storing a profile window", "err", err)
			a.profileErrors.Add(1)
		}
		// What exited is symbolized: forget it.
		for pid := range seen {
			if _, err := os.Stat("/proc/" + strconv.FormatUint(uint64(pid), 10)); err != nil {
				sym.Forget(pid)
				delete(seen, pid)
			}
		}
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
			remember()
		case <-win.C:
			store()
		case <-expire.C:
			a.profiles.Expire()
		}
	}
}
