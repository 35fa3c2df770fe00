package profile

import (
	"context"
	"os"
	"testing"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/testutil"
)

// benchWork is one op: a fixed CPU-bound loop of about a millisecond.
func benchWork(b *testing.B) {
	for b.Loop() {
		sink += hotLoop(1 << 20)
	}
}

func BenchmarkCPULoop_Unprofiled(b *testing.B) { benchWork(b) }

func BenchmarkCPULoop_Profiled99Hz(b *testing.B)  { benchProfiled(b, 99) }
func BenchmarkCPULoop_Profiled999Hz(b *testing.B) { benchProfiled(b, 999) }

// benchProfiled runs the loop while this process is sampled at hz, and
// reports the samples per op and the BPF program's mean run time.
func benchProfiled(b *testing.B, hz int) {
	testutil.RequireBPF(b)
	p, err := NewProfiler(collector.Config{}, Options{Hz: hz, PIDs: []uint32{uint32(os.Getpid())}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	stats := testutil.EnableProgStats(b)
	defer stats.Close()
	if err := p.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	before, err := p.Counters()
	if err != nil {
		b.Fatal(err)
	}
	benchWork(b)
	after, err := p.Counters()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(after.Samples-before.Samples)/float64(b.N), "samples/op")
	testutil.ReportProgStats(b, p.Collection())
}
