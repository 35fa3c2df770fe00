package agent

import (
	"context"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	_ "github.com/kscope/kscope/internal/collector/signals"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/testutil"
)

// runProg runs a socket filter n times through BPF_PROG_TEST_RUN: each run
// is one run in the kernel's statistics when they are on.
func runProg(t *testing.T, p *ebpf.Program, n uint32) {
	t.Helper()
	if _, err := p.Run(&ebpf.RunOptions{Data: make([]byte, 64), Repeat: n}); err != nil {
		testutil.Skip(t, "BPF_PROG_TEST_RUN", err)
	}
}

// The totals count exactly the runs made inside the windows, keep growing
// across windows, and ignore runs between them (even when another tool has
// the statistics on then).
func TestBPFStatsCountsOnlyWindows(t *testing.T) {
	testutil.RequireBPF(t)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SocketFilter,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	s := newBPFStats(time.Second, time.Hour, []statProg{{statKey{"test", "filter"}, prog}}, quietLogger)
	read := func() (statTotal, time.Duration, uint64) {
		var got statTotal
		var keys []statKey
		sampled, windows, err := s.snapshot(func(k statKey, tot statTotal) {
			keys = append(keys, k)
			got = tot
		})
		if len(keys) > 1 || len(keys) == 1 && keys[0] != (statKey{"test", "filter"}) {
			t.Fatalf("totals for %v", keys)
		}
		if err != nil {
			t.Fatal(err)
		}
		return got, sampled, windows
	}

	w, err := s.begin()
	if err != nil {
		testutil.Skip(t, "BPF_ENABLE_STATS", err)
	}
	runProg(t, prog, 1000)
	s.end(w)
	got, sampled1, windows := read()
	if got.runs != 1000 || got.runtime <= 0 || windows != 1 || sampled1 <= 0 {
		t.Fatalf("after one window: %+v, sampled %s, %d windows; want 1000 runs", got, sampled1, windows)
	}

	// Outside a window: nothing is added, whatever the kernel counts.
	runProg(t, prog, 500)
	if again, _, _ := read(); again != got {
		t.Errorf("runs between windows counted: %+v, then %+v", got, again)
	}

	w, err = s.begin()
	if err != nil {
		t.Fatal(err)
	}
	runProg(t, prog, 7)
	s.end(w)
	got2, sampled2, windows := read()
	if got2.runs != 1007 || got2.runtime < got.runtime || windows != 2 || sampled2 <= sampled1 {
		t.Errorf("after two windows: %+v, sampled %s, %d windows; want 1007 runs", got2, sampled2, windows)
	}
}

// sample holds the statistics on for the window, or until cancelled.
func TestBPFStatsSampleCancel(t *testing.T) {
	testutil.RequireBPF(t)
	s := newBPFStats(time.Hour, 2*time.Hour, nil, quietLogger)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.sample(ctx); err != nil {
		testutil.Skip(t, "BPF_ENABLE_STATS", err)
	}
	if _, windows, _ := s.snapshot(func(statKey, statTotal) {}); windows != 1 {
		t.Errorf("%d windows, want 1", windows)
	}
}

// waitWindows waits until a has sampled at least n windows.
func waitWindows(t *testing.T, a *Agent, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a.mu.Lock()
		_, windows, err := a.stats.snapshot(func(statKey, statTotal) {})
		a.mu.Unlock()
		if err != nil {
			testutil.Skip(t, "BPF_ENABLE_STATS", err)
		}
		if windows >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d BPF statistics windows after 30 s, want %d", windows, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A reload samples the collectors running after it, with the new window,
// and the counters carry over.
func TestReloadBPFStats(t *testing.T) {
	testutil.RequireBPF(t)
	cfg := testConfig(t, "exit")
	cfg.BPFStatsWindow, cfg.BPFStatsEvery = 200*time.Millisecond, time.Hour
	a, err := Start(context.Background(), cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	waitWindows(t, a, 1)
	sums := func() (map[string]float64, map[string]int) {
		_, samples, _ := a.Gather(context.Background())
		got, collectors := map[string]float64{}, map[string]int{}
		for _, s := range samples {
			got[s.Desc.Name] += s.Value
			if s.Desc.Name == "kscope_self_bpf_program_runs_total" {
				collectors[s.Values[0]]++
			}
		}
		return got, collectors
	}
	before, _ := sums()

	next := *cfg
	next.Collectors = map[string]config.Collector{"exit": {Enabled: true}, "signals": {Enabled: true}}
	next.BPFStatsWindow, next.BPFStatsEvery = 100*time.Millisecond, 2*time.Hour
	if _, err := a.Reload(&next); err != nil {
		t.Fatal(err)
	}
	waitWindows(t, a, 2)
	after, collectors := sums()
	if collectors["exit"] == 0 || collectors["signals"] == 0 {
		t.Errorf("programs sampled by collector %v, want exit and signals", collectors)
	}
	for _, name := range []string{"kscope_self_bpf_stats_window_seconds_total", "kscope_self_bpf_program_runs_total"} {
		if after[name] < before[name] {
			t.Errorf("%s went down across the reload: %v, then %v", name, before[name], after[name])
		}
	}
	if w := after["kscope_self_bpf_stats_window_seconds_total"]; w < 0.3 {
		t.Errorf("window seconds %v, want at least 0.2 + 0.1", w)
	}
	if r := after["kscope_self_bpf_stats_sampled_ratio"]; r != 0.1/7200 {
		t.Errorf("sampled ratio %v, want %v", r, 0.1/7200)
	}
}
