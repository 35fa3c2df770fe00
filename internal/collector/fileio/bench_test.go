package fileio_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/fileio"
	"github.com/kscope/kscope/internal/testutil"
)

// benchmarkSmallReads makes one-byte preads of a regular file, about the
// cheapest counted call there is, so the per-call cost of the hooks shows
// most. Traced, it reports the reads the collector counted per call (1)
// and each program's mean run time (every process's calls).
func benchmarkSmallReads(b *testing.B, traced, anyFD bool) {
	var c *fileio.Collector
	if traced {
		if anyFD {
			defer fileio.ForceAnyFD()()
		}
		if st := testutil.EnableProgStats(b); st != nil {
			defer st.Close()
		}
		c = start(b, collector.Config{TopK: everyone})
	}
	path := filepath.Join(b.TempDir(), "data")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		b.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	var buf [1]byte
	pid := strconv.Itoa(os.Getpid())
	var before counts
	if c != nil {
		before = countsOf(collect(b, c), "pid", pid)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := unix.Pread(fd, buf[:], 0); n != 1 || err != nil {
			b.Fatalf("pread: %d, %v", n, err)
		}
	}
	b.StopTimer()
	if c != nil {
		got := countsOf(collect(b, c), "pid", pid).sub(before)
		b.ReportMetric(got.reads/float64(b.N), "counted/op")
		testutil.ReportProgStats(b, c.Collection())
	}
}

func BenchmarkSmallReads_Untraced(b *testing.B)    { benchmarkSmallReads(b, false, false) }
func BenchmarkSmallReads_Traced(b *testing.B)      { benchmarkSmallReads(b, true, false) }
func BenchmarkSmallReads_TracedAnyFD(b *testing.B) { benchmarkSmallReads(b, true, true) }
