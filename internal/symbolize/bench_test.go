package symbolize

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
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

// BenchmarkTable loads the symbol table of libc and of a big Go binary
// (the Go toolchain's compiler) and symbolizes 10,000 addresses spread
// over their code. It reports the heap a table keeps (bytes/table,
// measured), the load time (ns/load), and the time per frame with the
// frame cache emptied before each round (ns/frame: most lookups read the
// file, a few small preads each) and for 1000 frames looked up again and
// again (ns/frame-cached).
func BenchmarkTable(b *testing.B) {
	files := map[string]string{}
	if _, err := exec.LookPath("sleep"); err == nil {
		files["libc"] = ""
	}
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		files["go-compile"] = filepath.Join(strings.TrimSpace(string(out)), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "compile")
	}
	for name, path := range files {
		b.Run(name, func(b *testing.B) {
			if path == "" {
				sleep := needTool(b, "sleep")
				cmd := exec.Command(sleep, "600")
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
				path = waitForLibc(b, cmd.Process.Pid)
			}
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			tab, err := loadFile(f, "")
			loadTime := time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			// Addresses spread over the code the tables cover.
			var lo, hi uint64
			if p, ok := tab.goTab.(*pclnReader); ok {
				lo, hi = p.sample[0], p.sample[len(p.sample)-1]
			} else if syms := tab.syms.syms; len(syms) > 0 {
				lo, hi = syms[0].addr, syms[len(syms)-1].addr+uint64(syms[len(syms)-1].size)
			}
			const n = 10000
			pcs := make([]uint64, n)
			for i := range pcs {
				pcs[i] = lo + uint64(i)*((hi-lo)/n)
			}
			named := 0
			var fr Frame
			for _, pc := range pcs {
				fr = Frame{}
				tab.lookup(pc, &fr)
				if fr.Function != "" {
					named++
				}
			}
			for b.Loop() {
				frames = frameCache{} // every lookup reads the file
				for _, pc := range pcs {
					fr = Frame{}
					tab.lookup(pc, &fr)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
			// A profile's frames repeat: 1000 pcs, cached after the first
			// round.
			hot := pcs[:1000:1000]
			for i := range hot {
				hot[i] = lo + uint64(i)*((hi-lo)/uint64(len(hot)))
			}
			start = time.Now()
			const rounds = 200
			for range rounds {
				for _, pc := range hot {
					fr = Frame{}
					tab.lookup(pc, &fr)
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(rounds*len(hot)), "ns/frame-cached")
			b.ReportMetric(float64(kept), "bytes/table")
			b.ReportMetric(float64(loadTime.Nanoseconds()), "ns/load")
			b.ReportMetric(float64(named)/n*100, "%named")
			runtime.KeepAlive(tab)
		})
	}
}
