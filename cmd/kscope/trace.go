package main

import (
	"context"
	"fmt"
	"log/slog"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/output"
)

// traceKinds documents each kind for --help.
var traceKinds = []struct{ name, short, fields string }{
	{"exec", "Trace execve/execveat: program, arguments and result", "filename, argv, argv_truncated, ret, error"},
	{"exit", "Trace process exits: exit code, signal and lifetime", "exit_code, signal, core_dumped, duration_ns"},
	{"open", "Trace open/openat/openat2: path, flags, mode and result", "path, path_truncated, flags, mode, ret, error"},
	{"connect", "Trace connect on IPv4/IPv6 TCP and UDP sockets: addresses, ports and result", "family, proto, saddr, sport, daddr, dport, ret, error, latency_ns"},
	{"oom", "Trace OOM kills: the victim, the task that triggered it and memory sizes", "trigger_pid, trigger_comm, memcg_id, sizes in bytes, oom_score_adj"},
	{"signal", "Trace processes killed by a signal: the signal and who sent it", "signal, signo, code, fatal, core_dumped, sender_pid, sender_tid, sender_uid, sender_comm"},
	{"http", "Trace HTTP/1.x requests and responses, plain and TLS (OpenSSL, Go crypto/tls): one event per exchange (--failed: status 400 and up, or no response)", "role, method, path, host, status, latency_ns, bytes_in, bytes_out, tls, laddr, raddr"},
}

// defaultTraceRing is the ring buffer of `kscope trace`. Its reader maps
// it twice (the data wraps around), so it counts twice in the RSS: 2 MiB
// costs 4 MiB where 8 MiB cost 16, and holds about 8 ms of an open storm at
// its full rate (~250 MB/s of events), enough for a reader that keeps up.
const defaultTraceRing = "2M"

// traceCollector maps a trace kind to the collector that streams it.
var traceCollector = map[string]string{"signal": "signals"}

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
}

func newTraceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trace KIND [flags]",
		Short: "Stream kernel events live (exec, exit, open, connect, oom, signal, uprobe, usdt, http)",
		Long: `Stream events as they happen, one line each, until interrupted.

Kinds: exec, exit, open, connect, oom, signal, http, and uprobe and usdt for
functions and USDT probes of user programs. Filters run in the kernel, so filtered-out
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
		cmd.AddCommand(newTraceKindCmd(k.name, k.short, k.fields))
	}
	cmd.AddCommand(newTraceUprobeCmd(), newTraceUSDTCmd())
	return cmd
}

func kindList() string {
	names := make([]string, len(traceKinds))
	for i, k := range traceKinds {
		names[i] = k.name
	}
	return strings.Join(append(names, userKinds...), ", ")
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
	name := kind
	if n, ok := traceCollector[kind]; ok {
		name = n
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
	// Parsing the kernel's BTF, which every collector's CO-RE relocations
	// need, is the longest step of loading: start it now, on another CPU,
	// while the file systems are checked and the object file is parsed.
	go bpfx.KernelTypes() //nolint:errcheck // loading reports the error
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
	sink := &limitSink{Writer: out, max: f.count, shown: &shown, done: cancel}

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
