package symbolize

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkUserCachedLibc symbolizes 10k addresses spread over libc's code
// in a remembered process: the steady-state cost per address once tables
// are cached (ns/addr).
func BenchmarkUserCachedLibc(b *testing.B) {
	sleep := needTool(b, "sleep")
	cmd := exec.Command(sleep, "600")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := uint32(cmd.Process.Pid)
	waitForLibc(b, cmd.Process.Pid)
	s := New()
	p, err := s.remember(pid)
	if err != nil {
		b.Fatal(err)
	}
	var libc *procMapping
	for i := range p.maps {
		if strings.Contains(p.maps[i].path, "libc.so") {
			libc = &p.maps[i]
		}
	}
	if libc == nil || libc.table == nil {
		b.Fatal("libc not loaded")
	}
	const n = 10000
	addrs := make([]uint64, n)
	step := (libc.end - libc.start) / n
	for i := range addrs {
		addrs[i] = libc.start + uint64(i)*step
	}
	known := 0
	for _, f := range s.User(pid, addrs) {
		if f.Function != "" {
			known++
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.User(pid, addrs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/addr")
	b.ReportMetric(float64(known)/n*100, "%named")
}

// BenchmarkLoadLibc loads libc's symbol table and reports the heap it
// keeps (bytes/table) and its symbol count.
func BenchmarkLoadLibc(b *testing.B) {
	sleep := needTool(b, "sleep")
	cmd := exec.Command(sleep, "600")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	path := waitForLibc(b, cmd.Process.Pid)
	var tab *fileTable
	var before, after runtime.MemStats
	for b.Loop() {
		tab = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		tab, err = loadFile(f, "")
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "bytes/table")
	b.ReportMetric(float64(len(tab.syms.syms)), "symbols")
	runtime.KeepAlive(tab)
}
