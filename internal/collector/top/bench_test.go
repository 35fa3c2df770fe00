package top_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/top"
	"github.com/kscope/kscope/internal/testutil"
)

// holdEnv makes the test binary hold the collector for bench/top.sh
// instead of running tests.
const holdEnv = "KSCOPE_BENCH_HOLD"

// benchHold starts the full collector alone, writes "ready took=..." on
// stderr, waits for SIGINT or SIGTERM, reads once and writes what it
// counted for the processes of each comm (comma-separated) on stdout.
func benchHold(comms string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	if _, err := bpfx.Prepare(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := top.New(collector.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	if err := c.Start(ctx, nil); err != nil {
		fmt.Fprintf(os.Stderr, "start: %+v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "ready took=%s net=%q\n", time.Since(t0), c.NetHooks())
	<-ctx.Done()
	s, err := c.Read()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, name := range strings.Split(comms, ",") {
		var p top.Proc
		for _, q := range s.Procs {
			if q.Comm == name {
				p.Syscalls += q.Syscalls
				p.WriteBytes += q.WriteBytes
				p.ReadBytes += q.ReadBytes
				p.CPUNs += q.CPUNs
			}
		}
		fmt.Printf("counted for comm %s: syscalls %d write_bytes %d read_bytes %d cpu_ns %d\n",
			name, p.Syscalls, p.WriteBytes, p.ReadBytes, p.CPUNs)
	}
	fmt.Printf("lost %d, processes %d\n", s.Lost, len(s.Procs))
	return 0
}

// startB starts the full collector for a benchmark, with BPF run-time
// statistics on.
func startB(b *testing.B) *top.Collector {
	b.Helper()
	testutil.RequireBPF(b)
	stats := testutil.EnableProgStats(b)
	b.Cleanup(func() { stats.Close() })
	c, err := top.New(collector.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background(), nil); err != nil {
		b.Fatalf("%+v", err)
	}
	return c
}

// timed returns the mean time of n calls of fn.
func timed(n int, fn func()) float64 {
	t0 := time.Now()
	for range n {
		fn()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

// benchEvent measures fn untraced and under the collector; the traced run
// times as many untraced calls first, before it attaches, and reports the
// difference as added-ns/op.
func benchEvent(b *testing.B, fn func()) {
	b.Run("untraced", func(b *testing.B) {
		for b.Loop() {
			fn()
		}
	})
	b.Run("traced", func(b *testing.B) {
		b.StopTimer()
		untraced := timed(b.N, fn)
		c := startB(b)
		b.StartTimer()
		traced := timed(b.N, fn)
		b.StopTimer()
		b.ReportMetric(traced-untraced, "added-ns/op")
		testutil.ReportProgStats(b, c.Collection())
	})
}

// BenchmarkGetppid: one syscall, counted at sys_enter.
func BenchmarkGetppid(b *testing.B) {
	benchEvent(b, func() { syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0) })
}

// BenchmarkPwrite: 64 bytes to a regular file, counted at sys_enter and at
// the exit of pwrite64 (the fd looked up in the file table).
func BenchmarkPwrite(b *testing.B) {
	fd, err := unix.Open(filepath.Join(b.TempDir(), "f"), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 64)
	benchEvent(b, func() { unix.Pwrite(fd, buf, 0) })
}

// BenchmarkRead measures one read of every process's counters, as kscope
// top does at each refresh.
func BenchmarkRead(b *testing.B) {
	c := startB(b)
	var n int
	for b.Loop() {
		s, err := c.Read()
		if err != nil {
			b.Fatal(err)
		}
		n = len(s.Procs)
	}
	b.ReportMetric(float64(n), "processes")
}
