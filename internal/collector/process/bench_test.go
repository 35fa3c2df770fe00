package process

import (
	"runtime"
	"syscall"
	"testing"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/testutil"
)

// pingPong bounces a byte between two OS threads over pipes, b.N times:
// each round trip puts both threads to sleep once, so it costs two or more
// context switches, each of which runs sched_switch. It reports the
// voluntary context switches per op.
func pingPong(b *testing.B) {
	var ab, ba [2]int
	if err := syscall.Pipe(ab[:]); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Pipe(ba[:]); err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, fd := range []int{ab[0], ab[1], ba[0], ba[1]} {
			syscall.Close(fd)
		}
	}()
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		buf := make([]byte, 1)
		for {
			if n, _ := syscall.Read(ab[0], buf); n != 1 || buf[0] == 0 {
				close(done)
				return
			}
			syscall.Write(ba[1], buf)
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	buf := []byte{1}
	b.ResetTimer()
	for range b.N {
		syscall.Write(ab[1], buf)
		syscall.Read(ba[0], buf)
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	syscall.Write(ab[1], []byte{0})
	<-done
	b.ReportMetric(float64(after.Nvcsw-before.Nvcsw)/float64(b.N), "switches/op")
}

func BenchmarkSwitch_Untraced(b *testing.B) { pingPong(b) }

func BenchmarkSwitch_Traced(b *testing.B) {
	defer testutil.EnableProgStats(b).Close()
	c := start(b, collector.Config{})
	pingPong(b)
	testutil.ReportProgStats(b, c.Collection())
	if st := c.Stats(); st.Lost != 0 {
		b.Errorf("lost %d", st.Lost)
	}
}

// forkExit runs b.N short-lived children (fork, exec, exit).
func forkExit(b *testing.B) {
	for range b.N {
		if err := command("exit:0").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForkExecExit_Untraced(b *testing.B) { forkExit(b) }

func BenchmarkForkExecExit_Traced(b *testing.B) {
	defer testutil.EnableProgStats(b).Close()
	c := start(b, collector.Config{})
	b.ResetTimer()
	forkExit(b)
	b.StopTimer()
	testutil.ReportProgStats(b, c.Collection())
}
