package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	cprofile "github.com/kscope/kscope/internal/collector/profile"
	"github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/symbolize"
)

type profileFlags struct {
	pids     []int
	all      bool
	duration time.Duration
	hz       int
	offCPU   bool
	output   string
	format   string
	verbose  bool
}

var profileFormats = []string{"pprof", "folded", "svg", "html", "top"}

func newProfileCmd() *cobra.Command {
	var f profileFlags
	cmd := &cobra.Command{
		Use:   "profile [--pid N | --all] [flags]",
		Short: "Sample on-CPU (and off-CPU) stacks and write a profile or flame graph",
		Long: `Sample the stacks of one or more processes, or of the whole host, with a
perf event per CPU (hardware cycles where the CPU has a PMU, the cpu-clock
otherwise), counted in the kernel. --off-cpu adds the time tasks spent
blocked, per stack, from sched_switch, as its own sample type.

Stacks are symbolized: the kernel from kallsyms, programs and libraries
from their ELF symbols (C++ and Rust demangled), Go programs from their
pclntab (stripped ones too). A frame without a symbol shows as
module+0xoffset. Processes that exit during the profile keep their samples.

Formats (by default from the -o file's extension): pprof (.pb.gz, for go
tool pprof), folded (.folded, .txt: one "a;b;c count" line per stack), svg
and html (flame graphs; html is interactive: click to zoom, search). With
no -o, the top functions are printed.`,
		Example: `  sudo kscope profile --pid 1234 --duration 10s -o cpu.pb.gz
  sudo kscope profile --all --hz 99 -o flame.html
  sudo kscope profile --pid 1234 --off-cpu -o offcpu.svg`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runProfile(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntSliceVar(&f.pids, "pid", nil, "profile this process (repeatable, or comma-separated)")
	fl.BoolVar(&f.all, "all", false, "profile every process")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "how long to sample")
	fl.IntVar(&f.hz, "hz", 99, "samples per second per CPU")
	fl.BoolVar(&f.offCPU, "off-cpu", false, "also measure time blocked off-CPU, per stack")
	fl.StringVarP(&f.output, "output", "o", "", "output file (default: print the top functions)")
	fl.StringVar(&f.format, "format", "", "pprof, folded, svg, html or top (default: from the file extension)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log load and attach details")
	return cmd
}

// formatFor picks the output format from the flag or the file name.
func formatFor(format, output string) (string, error) {
	if format != "" {
		for _, f := range profileFormats {
			if f == format {
				return f, nil
			}
		}
		return "", usagef("--format %q: want one of %s", format, strings.Join(profileFormats, ", "))
	}
	switch name := strings.ToLower(output); {
	case output == "":
		return "top", nil
	case strings.HasSuffix(name, ".pb.gz"), strings.HasSuffix(name, ".pprof"), strings.HasSuffix(name, ".pb"):
		return "pprof", nil
	case strings.HasSuffix(name, ".svg"):
		return "svg", nil
	case strings.HasSuffix(name, ".html"), strings.HasSuffix(name, ".htm"):
		return "html", nil
	case strings.HasSuffix(name, ".folded"), strings.HasSuffix(name, ".txt"), strings.HasSuffix(name, ".collapsed"):
		return "folded", nil
	}
	return "", usagef("-o %q: cannot tell the format from the extension; add --format (one of %s)", output, strings.Join(profileFormats, ", "))
}

func runProfile(cmd *cobra.Command, f profileFlags) error {
	if f.all == (len(f.pids) > 0) {
		return usagef("profile needs --pid N or --all (one of them)")
	}
	if f.duration <= 0 {
		return usagef("--duration %s: must be positive", f.duration)
	}
	if f.hz < 1 || f.hz > cprofile.MaxHz {
		return usagef("--hz %d: want 1 to %d", f.hz, cprofile.MaxHz)
	}
	format, err := formatFor(f.format, f.output)
	if err != nil {
		return err
	}
	var pids []uint32
	for _, pid := range f.pids {
		if pid <= 0 || pid > 1<<22 {
			return usagef("--pid %d: not a process id", pid)
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("--pid %d: no such process", pid)
		}
		pids = append(pids, uint32(pid))
	}
	// Fail on an unwritable output before sampling, not after.
	var out io.Writer = cmd.OutOrStdout()
	if f.output != "" {
		file, err := os.Create(f.output)
		if err != nil {
			return fmt.Errorf("output: %w", err)
		}
		defer file.Close()
		out = file
	}
	stderr := cmd.ErrOrStderr()
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// CO-RE against the kernel types the objects need, cached by the first
	// load of the boot, rather than the kernel's whole BTF.
	bpfx.SetTypeCache(bpfx.TypeCacheDir())
	if _, err := bpfx.Prepare(); err != nil {
		return err
	}
	// Every process is remembered when first sampled, while it runs, so
	// one that exits before the end still symbolizes.
	sym := symbolize.New()
	p, err := cprofile.NewProfiler(collector.Config{RingBytes: 4096, Logger: logger}, cprofile.Options{
		Hz: f.hz, OffCPU: f.offCPU, PIDs: pids,
		OnNewProcess: func(pid uint32, _ string) { sym.Remember(pid) },
	})
	if err != nil {
		return err
	}
	defer p.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if err := p.Start(ctx, nil); err != nil {
		return fmt.Errorf("starting the profiler: %w", err)
	}
	logger.Debug("sampling", "event", p.Event(), "hz", f.hz, "took", time.Since(start))
	defer limitMemory(logger)()

	// Also list the processes sampled, for any announcement lost.
	seen := map[uint32]bool{}
	remember := func() {
		pids, err := p.PIDs()
		if err != nil {
			return
		}
		for _, pid := range pids {
			if !seen[pid] && pid != 0 {
				seen[pid] = true
				sym.Remember(pid)
			}
		}
	}
	timer := time.NewTimer(f.duration)
	defer timer.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-timer.C:
			break wait
		case <-tick.C:
			remember()
		}
	}
	elapsed := time.Since(start)
	samples, err := p.Read(false)
	if err != nil {
		return fmt.Errorf("reading samples: %w", err)
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(int(pid))); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "process %d exited during the profile; its samples until then are kept\n", pid)
		}
	}
	prof := cprofile.Build(sym, samples, f.hz, f.offCPU, start, elapsed)
	if c, err := p.Counters(); err == nil {
		var lost uint64
		for _, n := range c.Lost {
			lost += n
		}
		fmt.Fprintf(stderr, "%d samples (%s, %d Hz) in %s, %d lost\n", prof.Total(profile.Samples), p.Event(), f.hz, elapsed.Round(time.Millisecond), lost)
	}
	return writeProfile(out, format, prof, f)
}

// limitMemory runs once the programs are loaded. The kernel's parsed BTF
// (megabytes of types, part of them mapped from /sys/kernel/btf/vmlinux)
// is no longer needed: it is dropped and its memory returned to the
// system. Then a soft memory limit of what the process uses at that point,
// plus 2 MiB, makes the garbage collector run more often rather than let
// the heap grow while processes are remembered, symbolized and the profile
// written: those steps then fit in the memory loading needed, and the peak
// RSS stays the loader's. When more than that is live (a large profile of
// a busy host), the collector would run back to back, at up to half the
// CPU, without keeping the heap smaller: once it takes more than a quarter
// of a CPU over the last second, the limit is lifted and the heap grows as
// usual (logged with -v). The returned function stops that watch.
func limitMemory(logger *slog.Logger) (stop func()) {
	bpfx.ReleaseKernelTypes()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	limit := int64(m.Sys-m.HeapReleased) + 2<<20
	debug.SetMemoryLimit(limit)
	logger.Debug("memory limit", "bytes", limit)
	done := make(chan struct{})
	go func() {
		// GC CPU seconds (idle-time marking left out: it costs nothing),
		// read every 100 ms; the oldest of the last second first.
		type reading struct {
			at  time.Time
			cpu float64
		}
		gcCPU := []metrics.Sample{
			{Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
			{Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"},
			{Name: "/cpu/classes/gc/pause:cpu-seconds"},
		}
		read := func(at time.Time) reading {
			metrics.Read(gcCPU)
			r := reading{at: at}
			for _, s := range gcCPU {
				if s.Value.Kind() == metrics.KindFloat64 {
					r.cpu += s.Value.Float64()
				}
			}
			return r
		}
		window := []reading{read(time.Now())}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				r := read(now)
				if len(window) == 10 {
					window = window[1:]
				}
				window = append(window, r)
				first := window[0]
				if d := r.at.Sub(first.at).Seconds(); d >= 0.3 && r.cpu-first.cpu > 0.25*d {
					debug.SetMemoryLimit(math.MaxInt64)
					logger.Debug("memory limit lifted", "gc_cpu", fmt.Sprintf("%.0f%%", 100*(r.cpu-first.cpu)/d))
					return
				}
			}
		}
	}()
	return func() { close(done) }
}

func writeProfile(out io.Writer, format string, prof *profile.Profile, f profileFlags) error {
	typ, unit := profile.Samples, "samples"
	if f.offCPU {
		// The flame graph and folded output show where time went blocked.
		typ, unit = profile.OffCPU, "ns off-CPU"
	}
	title := "kscope " + typ.Type + " profile"
	if len(f.pids) > 0 {
		title += " of pid " + strings.Trim(strings.ReplaceAll(fmt.Sprint(f.pids), " ", ","), "[]")
	}
	var err error
	switch format {
	case "pprof":
		err = profile.WritePprof(out, prof)
	case "folded":
		err = profile.WriteFolded(out, prof.Fold(typ))
	case "svg":
		err = profile.WriteSVG(out, title, unit, prof.Fold(typ))
	case "html":
		err = profile.WriteHTML(out, title, unit, prof.Fold(typ))
	case "top":
		total := prof.Total(typ)
		if typ == profile.OffCPU {
			// Nanoseconds, shown as seconds.
			fmt.Fprintf(out, "%s: %.3f s off-CPU in total\n%10s %7s  %s\n", title, float64(total)/1e9, "flat (s)", "flat%", "function")
			for _, t := range prof.Top(typ, 20) {
				fmt.Fprintf(out, "%10.3f %6.2f%%  %s\n", float64(t.Value)/1e9, 100*t.Share, t.Function)
			}
			break
		}
		fmt.Fprintf(out, "%s: %d %s in total\n%8s %7s  %s\n", title, total, unit, "flat", "flat%", "function")
		for _, t := range prof.Top(typ, 20) {
			fmt.Fprintf(out, "%8d %6.2f%%  %s\n", t.Value, 100*t.Share, t.Function)
		}
	}
	if err != nil {
		return fmt.Errorf("writing the %s profile: %w", format, err)
	}
	if f.output != "" {
		abs, _ := filepath.Abs(f.output)
		fmt.Fprintf(os.Stderr, "wrote %s\n", abs)
	}
	return nil
}
