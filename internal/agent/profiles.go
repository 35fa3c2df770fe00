package agent

import (
	"context"
	"time"

	"github.com/kscope/kscope/internal/profile"
)

// profileRecorder stores a profile source's windows as they end.
type profileRecorder struct {
	stop context.CancelFunc
	done chan struct{}
}

// startProfiles records the windows of r's collector, if it is a profile
// source and the agent stores profiles (not --check).
func (a *Agent) startProfiles(r *running) {
	src, ok := r.c.(profile.Source)
	if !ok || a.profiles == nil {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	r.profiles = &profileRecorder{stop: stop, done: make(chan struct{})}
	go a.recordProfiles(ctx, src, r.profiles.done)
}

// stopProfiles stores r's last, partial window and stops recording:
// before its collector closes.
func (r *running) stopProfiles() {
	if r.profiles != nil {
		r.profiles.stop()
		<-r.profiles.done
		r.profiles = nil
	}
}

// recordProfiles stores src's windows and hands them to the exporters
// until ctx is done; then it stores the last, partial window and closes
// done.
func (a *Agent) recordProfiles(ctx context.Context, src profile.Source, done chan<- struct{}) {
	defer close(done)
	store := func() {
		prof, err := src.Window()
		if err != nil {
			a.logger.Warn("reading the profiler", "err", err)
			return
		}
		// An empty window (the last, partial one can be) is neither
		// stored nor exported: exporters get what the store holds.
		if len(prof.Samples) == 0 {
			return
		}
		if err := a.profiles.Put(context.Background(), prof); err != nil {
			a.logger.Error("storing a profile window", "err", err)
			a.profileErrors.Add(1)
		}
		a.sinks.reportProfile(prof)
	}
	win := time.NewTicker(src.Every())
	defer win.Stop()
	expire := time.NewTicker(time.Minute)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			store()
			return
		case <-win.C:
			store()
		case <-expire.C:
			a.profiles.Expire()
		}
	}
}
