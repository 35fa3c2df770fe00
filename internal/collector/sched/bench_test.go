package sched_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/metrics"
)

// roundTrips runs n round trips of one byte between two threads pinned to
// one CPU through two pipes, and returns the time per round trip: each is
// two wakeups and two context switches.
func roundTrips(b *testing.B, n int) time.Duration {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		b.Fatal(err)
	}
	cpu := 0
	for !set.IsSet(cpu) {
		cpu++
	}
	var p1, p2 [2]int
	if err := unix.Pipe2(p1[:], unix.O_CLOEXEC); err != nil {
		b.Fatal(err)
	}
	if err := unix.Pipe2(p2[:], unix.O_CLOEXEC); err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, fd := range append(p1[:], p2[:]...) {
			unix.Close(fd)
		}
	}()
	pin := func() {
		runtime.LockOSThread()
		var one unix.CPUSet
		one.Set(cpu)
		unix.SchedSetaffinity(0, &one)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // echo
		defer wg.Done()
		pin() // the thread ends with the goroutine
		buf := make([]byte, 1)
		for i := 0; i < n; i++ {
			unix.Read(p1[0], buf)
			unix.Write(p2[1], buf)
		}
	}()
	done := make(chan time.Duration)
	go func() {
		pin()
		buf := make([]byte, 1)
		t0 := time.Now()
		for i := 0; i < n; i++ {
			unix.Write(p1[1], buf)
			unix.Read(p2[0], buf)
		}
		done <- time.Since(t0) / time.Duration(n)
	}()
	d := <-done
	wg.Wait()
	return d
}

// BenchmarkPingPong measures a futex round trip between two threads,
// untraced and under the collector. The traced run times as many untraced
// round trips first, before it attaches, and reports what the collector
// adds per context switch it counted (added-ns/switch).
func BenchmarkPingPong(b *testing.B) {
	b.Run("untraced", func(b *testing.B) { roundTrips(b, b.N) })
	b.Run("traced", func(b *testing.B) {
		b.StopTimer()
		untraced := roundTrips(b, b.N)
		c := start(b, collector.Config{})
		switches := func() float64 {
			var e metrics.Emitter
			if err := c.Collect(&e); err != nil {
				b.Fatal(err)
			}
			return value(&e, "kscope_sched_context_switches_total")
		}
		s0 := switches()
		b.StartTimer()
		traced := roundTrips(b, b.N)
		b.StopTimer()
		perRound := (switches() - s0) / float64(b.N)
		b.ReportMetric(perRound, "switches/round")
		if perRound > 0 {
			b.ReportMetric(float64((traced-untraced).Nanoseconds())/perRound, "added-ns/switch")
		}
	})
}

// BenchmarkCollect measures one Collect.
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
