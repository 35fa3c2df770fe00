package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"
	sysunix "golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/client"
	"github.com/kscope/kscope/internal/collector"
	ctop "github.com/kscope/kscope/internal/collector/top"
	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/topui"
)

type topFlags struct {
	sort     string
	reverse  bool
	interval time.Duration
	server   string
	httpConf string
	once     bool
	limit    int
	// container, pod and unit select the processes shown
	container, pod, unit string
}

func newTopCmd() *cobra.Command {
	var f topFlags
	cmd := &cobra.Command{
		Use:   "top [flags]",
		Short: "Live full-screen view of processes: CPU, memory, syscalls, file and network I/O",
		Long: `A live table of the processes of this host, refreshed every --interval:
CPU, resident memory (RSS, and MEM% of the host's), system calls per
second, bytes per second read and written on regular files, and bytes per
second received and sent on IPv4/IPv6 sockets.

Standalone (no --server and no KSCOPE_SERVER), kscope top loads its own BPF
programs, which count per process in the kernel (needs root, or
CAP_BPF+CAP_PERFMON+CAP_DAC_OVERRIDE to read tracefs). With --server, it reads a running kscope agent's
per-process metrics instead, with PromQL.

Keys: c s i n m sort by CPU, syscalls, file I/O, network, memory; < > or
tab cycle the sort column; r reverses; / filters by comm or pid (esc
clears); up, down, pgup, pgdn move; enter shows the process in detail (esc
goes back); p pauses; q quits.

--once prints one table and exits, like top -b -n 1: for scripts, and for
when stdout is not a terminal.

--container, --pod and --unit show the processes of one container, pod or
systemd unit only (with --server, as the agent's series are labelled).`,
		Example: `  sudo kscope top
  sudo kscope top --sort syscalls --interval 2s
  kscope top --server http://127.0.0.1:9464
  sudo kscope top --once --limit 10`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTop(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.sort, "sort", "cpu", "sort by cpu, syscalls, io, net, read, write, mem, pid or comm")
	fl.BoolVar(&f.reverse, "reverse", false, "reverse the sort order")
	fl.DurationVar(&f.interval, "interval", time.Second, "refresh interval, and what the rates are measured over standalone")
	fl.StringVar(&f.server, "server", "", "read a running agent at this URL (default: $KSCOPE_SERVER; neither: standalone)")
	addHTTPConfigFlag(fl, &f.httpConf)
	fl.BoolVar(&f.once, "once", false, "print one table and exit (batch mode)")
	fl.IntVar(&f.limit, "limit", 0, "with --once, print at most this many processes (0: all)")
	addContainerFlags(fl, &f.container, &f.pod, &f.unit)
	return cmd
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) (*os.File, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return nil, false
	}
	_, err := sysunix.IoctlGetTermios(int(f.Fd()), sysunix.TCGETS)
	return f, err == nil
}

func runTop(cmd *cobra.Command, f topFlags) error {
	key, err := topui.ParseSort(f.sort)
	if err != nil {
		return usagef("--sort: %v", err)
	}
	if f.interval < 100*time.Millisecond {
		return usagef("--interval %s: want at least 100ms", f.interval)
	}
	if f.limit < 0 {
		return usagef("--limit %d: must not be negative", f.limit)
	}
	if f.limit > 0 && !f.once {
		return usagef("--limit needs --once")
	}
	stdout := cmd.OutOrStdout()
	out, tty := isTerminal(stdout)
	if !f.once && !tty {
		return usagef("stdout is not a terminal: use --once to print one table")
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cf := container.Filter{Container: f.container, Pod: f.pod, Unit: f.unit}
	server := f.server
	if server == "" {
		server = os.Getenv(client.ServerEnv)
	}
	var src topui.Source
	if server != "" {
		c, err := agentAPI(server, f.httpConf, topui.AgentTimeout)
		if err != nil {
			return err
		}
		a := topui.NewAgentSource(c)
		a.Match = cf.PromQL()
		src = a
	} else {
		s, err := standaloneSource(ctx, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		src = s
		if !cf.IsZero() {
			src = &containerTop{Source: s, r: container.New(container.Options{}), f: cf}
		}
	}
	defer src.Close()

	if f.once {
		frame, err := oneFrame(ctx, src, f.interval)
		if err != nil {
			return err
		}
		return topui.WriteBatch(stdout, src.Describe(), frame, key, f.reverse, f.limit)
	}
	// Check the agent answers before taking over the screen.
	if _, ok := src.(*topui.AgentSource); ok {
		if _, err := src.Frame(ctx); err != nil {
			return err
		}
	}
	m := topui.NewModel(ctx, src, topui.Options{Interval: f.interval, Sort: key, Reverse: f.reverse})
	opts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithOutput(out), tea.WithContext(ctx)}
	if _, in := isTerminal(cmd.InOrStdin()); !in {
		opts = append(opts, tea.WithInputTTY())
	}
	_, err = tea.NewProgram(m, opts...).Run()
	if errors.Is(err, tea.ErrInterrupted) || errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // a signal: quit as q does
	}
	return err
}

// oneFrame returns the rates over interval: a source that computes them
// from counters reads twice.
func oneFrame(ctx context.Context, src topui.Source, interval time.Duration) (*topui.Frame, error) {
	frame, err := src.Frame(ctx)
	if err != nil || frame != nil {
		return frame, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(interval):
	}
	frame, err = src.Frame(ctx)
	if err == nil && frame == nil {
		err = errors.New("no counters after one interval")
	}
	return frame, err
}

// standaloneSource loads the top collector.
func standaloneSource(ctx context.Context, stderr io.Writer) (*topui.CounterSource, error) {
	if _, err := bpfx.Prepare(); err != nil {
		return nil, err
	}
	// Fallbacks are shown in the view's header; the log gets warnings only.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := ctop.New(collector.Config{Logger: logger})
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx, nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("starting the top collector: %w", err)
	}
	bpfx.ReleaseKernelTypes()
	var notes []string
	if h := c.NetHooks(); h != ctop.NetSockTracepoints {
		notes = append(notes, "net bytes from "+h.String()+" (fallback)")
	}
	if c.AnyFD() {
		notes = append(notes, "file bytes counted on every kind of fd (fallback)")
	}
	var buf []topui.ProcCounters
	return topui.NewCounterSource(topui.CounterFuncs{
		Describe: "standalone (BPF)",
		Notes:    notes,
		Read: func() (topui.Counters, error) {
			s, err := c.Read()
			if err != nil {
				return topui.Counters{}, err
			}
			buf = buf[:0]
			for _, p := range s.Procs {
				buf = append(buf, counters(p))
			}
			return topui.Counters{At: time.Now(), Procs: buf, Untracked: counters(s.Untracked), Lost: s.Lost}, nil
		},
		Focus: c.Focus,
		FocusCalls: func() (uint32, []topui.SyscallTotal, error) {
			pid, calls, err := c.FocusCalls()
			out := make([]topui.SyscallTotal, len(calls))
			for i, s := range calls {
				out[i] = topui.SyscallTotal{Name: s.Name, Calls: s.Calls}
			}
			return pid, out, err
		},
		Close: c.Close,
	}, &topui.ProcFS{}), nil
}

func counters(p ctop.Proc) topui.ProcCounters {
	return topui.ProcCounters{
		PID: p.PID, Start: p.StartNs, Comm: p.Comm, CPUNs: p.CPUNs, Syscalls: p.Syscalls,
		ReadBytes: p.ReadBytes, WriteBytes: p.WriteBytes, RxBytes: p.RxBytes, TxBytes: p.TxBytes, Exited: p.Exited,
	}
}

// containerTop shows the rows of a standalone source whose processes the
// filter selects, read from /proc at every frame.
type containerTop struct {
	topui.Source
	r *container.Resolver
	f container.Filter
}

func (c *containerTop) Frame(ctx context.Context) (*topui.Frame, error) {
	fr, err := c.Source.Frame(ctx)
	if err != nil || fr == nil {
		return fr, err
	}
	out := *fr // the source may keep its frame's rows
	out.Rows = nil
	for _, r := range fr.Rows {
		if c.f.Match(c.r.ProcessNow(r.PID)) {
			out.Rows = append(out.Rows, r)
		}
	}
	return &out, nil
}
