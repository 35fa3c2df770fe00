package syscalls_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/syscalls"
	"github.com/kscope/kscope/internal/metrics"
)

// holdEnv makes the test binary hold the collector for bench/syscalls.sh
// (see benchHold) instead of running tests; with countsOnlyEnv=1 the
// collector runs with Config.CountsOnly (sys_enter only).
const (
	holdEnv       = "KSCOPE_BENCH_HOLD"
	countsOnlyEnv = "KSCOPE_BENCH_COUNTS_ONLY"
)

// benchHold starts the collector alone, writes "ready took=..." on stderr,
// waits for SIGINT or SIGTERM, collects once and writes the getppid counts
// (all processes, and the processes whose comm is comm) on stdout.
func benchHold(comm string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	if _, err := bpfx.Prepare(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := collector.New(syscalls.Name, collector.Config{CountsOnly: os.Getenv(countsOnlyEnv) == "1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	if err := c.Start(ctx, nil); err != nil {
		fmt.Fprintf(os.Stderr, "start: %+v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "ready took=%s\n", time.Since(t0))
	<-ctx.Done()
	var e metrics.Emitter
	if err := c.(metrics.Source).Collect(&e); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	all := value(&e, "kscope_syscalls_total", "syscall", "getppid")
	mine := value(&e, "kscope_process_syscalls_total", "comm", comm, "syscall", "getppid")
	dropped := value(&e, "kscope_syscalls_dropped_total")
	fmt.Printf("getppid calls counted: %.0f, %.0f by comm %s, %.0f dropped\n", all, mine, comm, dropped)
	return 0
}

// BenchmarkGetppid measures getppid untraced and under the collector. The
// traced run times as many untraced calls first, before it attaches, and
// reports the difference as added-ns/call.
func BenchmarkGetppid(b *testing.B) {
	run := func(n int) float64 {
		t0 := time.Now()
		getppid(n)
		return float64(time.Since(t0).Nanoseconds()) / float64(n)
	}
	b.Run("untraced", func(b *testing.B) { run(b.N) })
	b.Run("traced", func(b *testing.B) {
		b.StopTimer()
		untraced := run(b.N)
		c := start(b, collector.Config{})
		b.StartTimer()
		traced := run(b.N)
		b.StopTimer()
		b.ReportMetric(traced-untraced, "added-ns/call")
		var e metrics.Emitter
		if err := c.Collect(&e); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkCollect measures one Collect of the whole machine's counters.
func BenchmarkCollect(b *testing.B) {
	c := start(b, collector.Config{})
	var e metrics.Emitter
	for b.Loop() {
		e.Reset()
		if err := c.Collect(&e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(e.Samples)), "samples")
}
