package main

import (
	"context"
	"fmt"
	"log/slog"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/output"
)

// traceKinds are the kinds `kscope trace KIND` streams, and userKinds
// those of user-space probes, which take a target: what the registered
// collectors declare (collector.Spec.Trace), in event.Kinds order.
var traceKinds, userKinds = tracedKinds()

// defaultTraceRing is the ring buffer of `kscope trace`. Its reader maps
// it twice (the data wraps around), so it counts twice in the RSS: 2 MiB
// costs 4 MiB where 8 MiB cost 16, and holds about 8 ms of an open storm at
// its full rate (~250 MB/s of events), enough for a reader that keeps up.
const defaultTraceRing = "2M"

func tracedKinds() (plain []collector.Traceable, user []string) {
	plain, targeted := collector.Traced(event.Kinds)
	for _, t := range targeted {
		user = append(user, t.Kind)
	}
	return plain, user
}

type traceFlags struct {
	json     bool
	pid      int64
	uid      int64
	comm     string
	failed   bool
	count    int64
	duration time.Duration
	bufSize  string
	verbose  bool
	// container, pod and unit select processes by their container, pod
	// and systemd unit (package container), in user space.
	container, pod, unit string
}

func newTraceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trace KIND [flags]",
		Short: "Stream kernel events live (" + strings.Join(eventKindsTraced(), ", ") + ")",
		Long: `Stream events as they happen, one line each, until interrupted.

` + wrap("Kinds: "+strings.Join(kindNames(traceKinds), ", ")+", and "+strings.Join(userKinds, " and ")+" for functions and USDT probes of user programs.", 80, 82) + ` Filters run in the kernel, so filtered-out
events cost no ring buffer traffic. On exit kscope prints one line on stderr:
events shown, lost (ring buffer full) and filtered.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("trace needs a kind: one of %s", kindList())
			}
			return usagef("unknown kind %q: want one of %s", args[0], kindList())
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	for _, k := range traceKinds {
		cmd.AddCommand(newTraceKindCmd(k.Kind, k.Short, k.Fields))
	}
	cmd.AddCommand(newTraceUprobeCmd(), newTraceUSDTCmd())
	return cmd
}

// traceShort is the one-line help of a kind, as its collector declares it.
func traceShort(kind string) string {
	plain, targeted := collector.Traced(event.Kinds)
	for _, t := range append(plain, targeted...) {
		if t.Kind == kind {
			return t.Short
		}
	}
	return ""
}

func kindList() string {
	return strings.Join(append(kindNames(traceKinds), userKinds...), ", ")
}

func kindNames(ts []collector.Traceable) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Kind
	}
	return names
}

// eventKindsTraced lists every kind `kscope trace` streams, in event.Kinds
// order.
func eventKindsTraced() []string {
	var out []string
	for _, k := range event.Kinds {
		if slices.Contains(userKinds, k) || slices.ContainsFunc(traceKinds, func(t collector.Traceable) bool { return t.Kind == k }) {
			out = append(out, k)
		}
	}
	return out
}

// wrap breaks s into lines: the first at most first bytes, the others at
// most width.
func wrap(s string, width, first int) string {
	var b strings.Builder
	line, limit := 0, first
	for i, w := range strings.Fields(s) {
		if i > 0 {
			if line+1+len(w) > limit {
				b.WriteByte('\n')
				line, limit = 0, width
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

func newTraceKindCmd(kind, short, fields string) *cobra.Command {
	var f traceFlags
	cmd := &cobra.Command{
		Use:   kind + " [flags]",
		Short: short,
		Long: short + `.

Every event has time (RFC 3339, ns), type, pid, tid, ppid, uid, comm,
cgroup_id, start_ns, start_time and parent_start_ns (the process's and its
parent's start: pid and start_ns name one process across pid reuse); ` + kind + ` events add ` + fields + `.`,
		Example: "  sudo kscope trace " + kind + "\n  sudo kscope trace " + kind + " --json --comm bash --count 10",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTrace(cmd, kind, f)
		},
	}
	addTraceFlags(cmd, &f)
	cmd.Flags().BoolVar(&f.failed, "failed", false, "only calls that failed (exit: non-zero exit code or killed by a signal)")
	return cmd
}

// addTraceFlags registers the flags every trace kind has.
func addTraceFlags(cmd *cobra.Command, f *traceFlags) {
	fl := cmd.Flags()
	fl.BoolVar(&f.json, "json", false, "print one JSON object per line")
	fl.Int64Var(&f.pid, "pid", 0, "only this process (tgid)")
	fl.Int64Var(&f.uid, "uid", -1, "only this user id")
	fl.StringVar(&f.comm, "comm", "", "only this command name (exact, at most 15 bytes)")
	fl.Int64Var(&f.count, "count", 0, "stop after this many events")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (e.g. 10s, 5m)")
	fl.StringVar(&f.bufSize, "buffer-size", defaultTraceRing, "ring buffer size, a power of two (e.g. 256K, 8M)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log load and attach details to stderr")
	addContainerFlags(fl, &f.container, &f.pod, &f.unit)
}

// filter validates the filter flags.
func (f traceFlags) filter(kind string) (collector.Filter, error) {
	var flt collector.Filter
	if f.pid < 0 || f.pid > 1<<22 {
		return flt, usagef("--pid %d: not a process id", f.pid)
	}
	flt.PID = uint32(f.pid)
	if f.uid < -1 || f.uid >= 1<<32-1 {
		return flt, usagef("--uid %d: not a user id", f.uid)
	}
	if f.uid >= 0 {
		uid := uint32(f.uid)
		flt.UID = &uid
	}
	if len(f.comm) > 15 {
		return flt, usagef("--comm %q: the kernel keeps at most 15 bytes of a command name", f.comm)
	}
	flt.Comm = f.comm
	flt.Failed = f.failed
	if f.count < 0 {
		return flt, usagef("--count %d: must not be negative", f.count)
	}
	if f.duration < 0 {
		return flt, usagef("--duration %s: must not be negative", f.duration)
	}
	return flt, nil
}

// parseSize reads a byte count with an optional K, M or G suffix.
func parseSize(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"), strings.HasSuffix(s, "g"):
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > (1<<30)/mult {
		return 0, fmt.Errorf("not a size")
	}
	n *= mult
	if n < 4096 || n&(n-1) != 0 {
		return 0, fmt.Errorf("must be a power of two of at least 4K")
	}
	return n, nil
}

func runTrace(cmd *cobra.Command, kind string, f traceFlags) error {
	var name string
	for _, t := range traceKinds {
		if t.Kind == kind {
			name = t.Collector
		}
	}
	return runTraceWith(cmd, kind, f, func(cfg collector.Config) (collector.Collector, error) {
		return collector.New(name, cfg)
	})
}

// runTraceWith streams the events of the collector build makes until
// interrupted, --count or --duration.
func runTraceWith(cmd *cobra.Command, kind string, f traceFlags, build func(collector.Config) (collector.Collector, error)) error {
	flt, err := f.filter(kind)
	if err != nil {
		return err
	}
	ring, err := parseSize(f.bufSize)
	if err != nil {
		return usagef("--buffer-size %q: %v", f.bufSize, err)
	}
	// Loading allocates a few megabytes that are garbage once attached (the
	// kernel's BTF, the parsed object file): collecting them while loading
	// only delays the attach. Collect once, after it.
	resumeGC := pauseGC()
	defer resumeGC()
	// Parsing the kernel's BTF for CO-RE is the longest step of loading:
	// relocate against the few kernel types the object needs, cached by the
	// first load of the boot.
	bpfx.SetTypeCache(bpfx.TypeCacheDir())
	stderr := cmd.ErrOrStderr()
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	mounts, err := bpfx.Prepare()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m.ByUs {
			logger.Info("mounted", "fs", m.FS, "path", m.Path)
		}
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	c, err := build(collector.Config{Filter: flt, RingBytes: ring, Logger: logger})
	if err != nil {
		return err
	}
	out := output.NewWriter(cmd.OutOrStdout(), f.json)
	var shown atomic.Int64
	var sink event.Sink = &limitSink{Writer: out, max: f.count, shown: &shown, done: cancel}
	var byContainer *container.Sink
	if cf := (container.Filter{Container: f.container, Pod: f.pod, Unit: f.unit}); !cf.IsZero() {
		byContainer = container.NewSink(container.New(container.Options{Logger: logger}), cf, sink)
		sink = byContainer
	}

	start := time.Now()
	if err := c.Start(ctx, sink); err != nil {
		c.Close()
		return fmt.Errorf("starting %s tracer: %w", kind, err)
	}
	logger.Debug("attached", "kind", kind, "took", time.Since(start))
	resumeGC()
	out.Header(kind)

	<-ctx.Done()
	closeErr := c.Close()
	out.Flush()
	st := c.Stats()
	fmt.Fprintf(stderr, "%d events shown, %d lost (buffer full), %d filtered\n", shown.Load(), st.Lost, st.Filtered)
	if byContainer != nil {
		fmt.Fprintf(stderr, "%d events of other containers, pods or units not shown\n", byContainer.Dropped())
	}
	if st.Malformed > 0 {
		fmt.Fprintf(stderr, "%d malformed records dropped\n", st.Malformed)
	}
	if st.Unreadable > 0 {
		fmt.Fprintf(stderr, "%d events with a string that could not be read from user memory (flagged *_unavailable)\n", st.Unreadable)
	}
	if err := out.Err(); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if closeErr != nil {
		logger.Warn("detaching", "err", closeErr)
	}
	return nil
}

// pauseGC turns the garbage collector off until the returned function is
// called (once; later calls do nothing). That function then frees what
// loading needed and streaming does not: the parsed kernel BTF (megabytes of
// types, kept by bpfx for further loads) and the garbage of parsing the
// object files, in one collection that returns the pages to the system.
func pauseGC() (resume func()) {
	old := debug.SetGCPercent(-1)
	var once sync.Once
	return func() {
		once.Do(func() {
			debug.SetGCPercent(old)
			bpfx.ReleaseKernelTypes()
			debug.FreeOSMemory()
		})
	}
}

// limitSink stops after max events (0: no limit).
type limitSink struct {
	*output.Writer
	max   int64
	shown *atomic.Int64
	done  func()
}

func (s *limitSink) Emit(ev event.Event) {
	if s.max > 0 && s.shown.Load() >= s.max {
		return
	}
	s.Writer.Emit(ev)
	if n := s.shown.Add(1); s.max > 0 && n >= s.max {
		s.Writer.Flush()
		s.done()
	}
}
