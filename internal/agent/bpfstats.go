package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// bpfStats samples the kernel's per-program run count and run time
// (BPF_ENABLE_STATS, Linux 5.8+) in short windows. While the statistics
// are on, every BPF program on the host, kscope's and any other tool's,
// pays two clock reads per run; so they are on for window once every
// every, and the runs and run time seen inside the windows are added to
// counters that only grow. kscope_self_bpf_program_runs_total and
// kscope_self_bpf_program_run_seconds_total count those windows only;
// kscope_self_bpf_stats_window_seconds_total is the time sampled, so
// rate(runs) / rate(window seconds) is the programs' full rate.
type bpfStats struct {
	window, every time.Duration
	progs         []statProg
	logger        *slog.Logger

	mu      sync.Mutex
	totals  map[statKey]*statTotal
	sampled time.Duration // summed length of the finished windows
	windows uint64
	err     error // the statistics could not be switched on

	stop context.CancelFunc
	done chan struct{}
}

type statKey struct{ collector, program string }

type statProg struct {
	statKey
	p *ebpf.Program
}

type statTotal struct {
	runs    uint64
	runtime time.Duration
}

// newBPFStats prepares sampling for progs; start runs it.
func newBPFStats(window, every time.Duration, progs []statProg, logger *slog.Logger) *bpfStats {
	sort.Slice(progs, func(i, j int) bool {
		if progs[i].collector != progs[j].collector {
			return progs[i].collector < progs[j].collector
		}
		return progs[i].program < progs[j].program
	})
	return &bpfStats{window: window, every: every, progs: progs, logger: logger, totals: map[statKey]*statTotal{}}
}

// start samples a window now and then one every s.every, until Close.
func (s *bpfStats) start() {
	ctx, stop := context.WithCancel(context.Background())
	s.stop, s.done = stop, make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.every)
		defer t.Stop()
		for {
			if err := s.sample(ctx); err != nil {
				s.logger.Info("fallback: BPF program run-time statistics unavailable, kscope_self_bpf_program_runs_total and _run_seconds_total stay empty", "err", err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// sample switches the statistics on for one window and adds what the
// programs ran meanwhile. A window cut short by ctx still counts, with
// its real length.
func (s *bpfStats) sample(ctx context.Context) error {
	w, err := s.begin()
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(s.window):
	}
	s.end(w)
	return nil
}

// statWindow is a window in progress: the statistics switched on and the
// programs' counters when they were.
type statWindow struct {
	on    io.Closer
	t0    time.Time
	begin []statTotal
	ok    []bool
}

// begin switches the statistics on and reads every program's counters.
func (s *bpfStats) begin() (*statWindow, error) {
	on, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		s.mu.Lock()
		s.err = fmt.Errorf("enabling BPF run-time statistics: %w", err)
		s.mu.Unlock()
		return nil, s.err
	}
	w := &statWindow{on: on, begin: make([]statTotal, len(s.progs)), ok: make([]bool, len(s.progs))}
	for i, p := range s.progs {
		if st, err := p.p.Stats(); err == nil {
			w.begin[i], w.ok[i] = statTotal{st.RunCount, st.Runtime}, true
		}
	}
	w.t0 = time.Now()
	return w, nil
}

// end reads every program's counters again, switches the statistics off
// and adds the differences to the totals.
func (s *bpfStats) end(w *statWindow) {
	end := make([]statTotal, len(s.progs))
	for i, p := range s.progs {
		st, err := p.p.Stats()
		if err != nil {
			w.ok[i] = false
			continue
		}
		end[i] = statTotal{st.RunCount, st.Runtime}
	}
	took := time.Since(w.t0)
	w.on.Close()

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.progs {
		t := s.totals[p.statKey]
		if t == nil {
			t = &statTotal{}
			s.totals[p.statKey] = t
		}
		// The kernel's counters only grow; a program it could not read
		// at both ends adds nothing this window.
		b := w.begin[i]
		if w.ok[i] && end[i].runs >= b.runs && end[i].runtime >= b.runtime {
			t.runs += end[i].runs - b.runs
			t.runtime += end[i].runtime - b.runtime
		}
	}
	s.sampled += took
	s.windows++
}

// snapshot returns the totals, the time sampled and whether sampling ever
// worked (a nil error).
func (s *bpfStats) snapshot(f func(k statKey, t statTotal)) (sampled time.Duration, windows uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.progs {
		if t := s.totals[p.statKey]; t != nil {
			f(p.statKey, *t)
		}
	}
	return s.sampled, s.windows, s.err
}

// inherit adds old's totals and sampled time to s's, so the counters stay
// monotonic when sampling restarts.
func (s *bpfStats) inherit(old *bpfStats) {
	old.mu.Lock()
	defer old.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range old.totals {
		n := s.totals[k]
		if n == nil {
			n = &statTotal{}
			s.totals[k] = n
		}
		n.runs += t.runs
		n.runtime += t.runtime
	}
	s.sampled += old.sampled
	s.windows += old.windows
}

// Close stops sampling; a window in progress ends now.
func (s *bpfStats) Close() error {
	if s.stop != nil {
		s.stop()
		<-s.done
		s.stop = nil
	}
	return nil
}
