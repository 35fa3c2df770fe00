package testutil

import (
	"io"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// EnableProgStats turns on the kernel's run-time accounting of BPF
// programs until the returned closer is closed. Where the kernel refuses,
// it logs why and the closer does nothing.
func EnableProgStats(b *testing.B) io.Closer {
	b.Helper()
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Logf("no BPF run-time stats: %v", err)
		return nopCloser{}
	}
	return c
}

// ReportProgStats reports, for each program of coll that ran, its mean run
// time (ns/NAME) and how often it ran per op (runs/op/NAME).
func ReportProgStats(b *testing.B, coll *ebpf.Collection) {
	b.Helper()
	for name, p := range coll.Programs {
		st, err := p.Stats()
		if err != nil || st.RunCount == 0 {
			continue
		}
		b.ReportMetric(float64(st.Runtime.Nanoseconds())/float64(st.RunCount), "ns/"+name)
		b.ReportMetric(float64(st.RunCount)/float64(b.N), "runs/op/"+name)
	}
}
