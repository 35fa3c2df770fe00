package store

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/metrics"
)

// BenchmarkHeadBlock simulates an hour of an agent under pid churn (3000
// stable series plus 50 new per-process series a collection, each living
// six collections, every 10 s) with 5-minute and 30-minute head blocks, and
// reports the head's peak series, the bytes on disk at the end and the
// CPU time taken (appends and compactions).
func BenchmarkHeadBlock(b *testing.B) {
	for _, block := range []time.Duration{5 * time.Minute, 10 * time.Minute, 30 * time.Minute} {
		b.Run(block.String(), func(b *testing.B) {
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			for range b.N {
				dir := b.TempDir()
				m, err := OpenMetricsWith(dir, MetricsOptions{Retention: 7 * 24 * time.Hour, MaxSeries: 1 << 30, HeadBlock: block}, logger)
				if err != nil {
					b.Fatal(err)
				}
				c := metrics.NewCounter("kscope_bench_total", "b", "pid")
				ctx := context.Background()
				t0 := time.Now().Add(-2 * time.Hour)
				var peak uint64
				var e metrics.Emitter
				for i := range 360 {
					e.Reset()
					for s := range 3000 {
						e.Counter(c, float64(i), "s"+strconv.Itoa(s))
					}
					for p := i * 50; p < (i+6)*50; p++ {
						e.Counter(c, float64(i), strconv.Itoa(p))
					}
					if err := m.Append(ctx, t0.Add(time.Duration(i)*10*time.Second), e.Samples); err != nil {
						b.Fatal(err)
					}
					if i%30 == 0 {
						if err := m.DB().Compact(ctx); err != nil {
							b.Fatal(err)
						}
					}
					peak = max(peak, m.HeadSeries())
				}
				if err := m.DB().Compact(ctx); err != nil {
					b.Fatal(err)
				}
				m.Close()
				var size int64
				filepath.Walk(filepath.Join(dir, "metrics"), func(_ string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() {
						size += fi.Size()
					}
					return nil
				})
				b.ReportMetric(float64(peak), "peak-head-series")
				b.ReportMetric(float64(size)/(1<<20), "disk-MB")
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) / time.Duration(b.N)
			b.ReportMetric(cpu.Seconds(), "cpu-s/op")
		})
	}
}
