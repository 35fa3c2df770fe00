package block_test

import (
	"testing"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/block"
	"github.com/kscope/kscope/internal/testutil"
)

// benchmarkDirectRead reads 4096-byte blocks with O_DIRECT from a loop
// device over tmpfs: one block request per read, about the cheapest
// request there is, so the per-request cost of tracing shows most. Traced,
// it reports the requests the collector counted per read (1) and each
// program's mean run time (all disks' requests, not only the loop's).
func benchmarkDirectRead(b *testing.B, traced bool) {
	var c *block.Collector
	if traced {
		if st := testutil.EnableProgStats(b); st != nil {
			defer st.Close()
		}
		c = start(b, collector.Config{})
	}
	loop := newLoop(b, 1<<20)
	r := newDirectReader(b, loop.path)
	var before ioCounts
	if c != nil {
		before = counts(collect(b, c), loop.name, "read")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.read(b, i%256)
	}
	b.StopTimer()
	if c != nil {
		got := counts(collect(b, c), loop.name, "read").sub(before)
		b.ReportMetric(got.ops/float64(b.N), "requests/op")
		testutil.ReportProgStats(b, c.Collection())
	}
}

func BenchmarkDirectRead_Untraced(b *testing.B) { benchmarkDirectRead(b, false) }
func BenchmarkDirectRead_Traced(b *testing.B)   { benchmarkDirectRead(b, true) }
