package signals

import (
	"syscall"
	"testing"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/testutil"
)

// killSelf sends SIGUSR1 to this process b.N times; the Go runtime catches
// it and does nothing. Each one runs signal_generate, which notes the sender
// since SIGUSR1's default action would kill.
func killSelf(b *testing.B) {
	pid := syscall.Getpid()
	for range b.N {
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKill_Untraced(b *testing.B) { killSelf(b) }

func BenchmarkKill_Traced(b *testing.B) {
	defer testutil.EnableProgStats(b).Close()
	c, _ := start(b, collector.Config{})
	b.ResetTimer()
	killSelf(b)
	b.StopTimer()
	testutil.ReportProgStats(b, c.Collection())
}
