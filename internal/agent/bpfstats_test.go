package agent

import (
	"context"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

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
