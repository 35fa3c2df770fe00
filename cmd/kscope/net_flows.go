package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/flows"
	"github.com/kscope/kscope/internal/output"
)

type netFlowsFlags struct {
	traceFlags
	interval time.Duration
	top      int
	idle     time.Duration
}

func newNetFlowsCmd() *cobra.Command {
	var f netFlowsFlags
	cmd := &cobra.Command{
		Use:   "flows [flags]",
		Short: "A live table of TCP and UDP flows with their process, bytes, packets, RTT",
		Long: `A live table of TCP and UDP flows (IPv4 and IPv6, loopback included), busiest
first, refreshed every --interval: protocol, local and remote address,
direction (out: opened here; in: opened by the peer), the owning process
(pid, comm), payload bytes and packets sent and received with their rates,
TCP retransmits, smoothed RTT and state, and age. Flows that ended since
the previous table are shown once more with their totals.

--json prints one JSON object per line instead: each open flow whose
counters moved during the interval, without an "end" field, and each flow
that ended, once, with its totals and "end" (closed, released or idle).
--count stops after that many ended flows. Every process of the host is
seen (the hooks sit on the cgroup v2 root); see docs/net.md.`,
		Example: "  sudo kscope net flows\n  sudo kscope net flows --comm curl --top 10\n  sudo kscope net flows --json --pid 1234",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNetFlows(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.json, "json", false, "print one JSON object per line")
	fl.Int64Var(&f.count, "count", 0, "stop after this many ended flows")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (e.g. 10s, 5m)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log load and attach details to stderr")
	fl.Int64Var(&f.pid, "pid", 0, "only this process's flows (tgid)")
	fl.StringVar(&f.comm, "comm", "", "only this command's flows (exact, at most 15 bytes)")
	fl.DurationVar(&f.interval, "interval", time.Second, "refresh the table this often")
	fl.IntVar(&f.top, "top", 20, "show at most this many open flows")
	fl.DurationVar(&f.idle, "idle-timeout", flows.DefaultIdleTimeout, "end a flow that saw no packet for this long")
	f.uid = -1
	f.bufSize = defaultTraceRing
	return cmd
}

// flowID identifies a flow between tables, for its rates.
type flowID struct {
	netns         uint64
	proto         string
	local, remote netip.AddrPort
}

func idOf(f *flows.Flow) flowID {
	return flowID{f.Netns, f.Proto, f.Local, f.Remote}
}

func runNetFlows(cmd *cobra.Command, f netFlowsFlags) error {
	flt, err := f.filter(flows.KindName)
	if err != nil {
		return err
	}
	if f.interval < 100*time.Millisecond {
		return usagef("--interval %s: at least 100ms", f.interval)
	}
	if f.top <= 0 {
		return usagef("--top %d: must be positive", f.top)
	}
	if f.idle <= 0 {
		return usagef("--idle-timeout %s: must be positive", f.idle)
	}
	stderr := cmd.ErrOrStderr()
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if _, err := bpfx.Prepare(); err != nil {
		return err
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

	c, err := flows.NewWithIdle(collector.Config{Filter: flt, Logger: logger}, f.idle)
	if err != nil {
		return err
	}
	stdout := cmd.OutOrStdout()
	out := output.NewWriter(stdout, true)
	var (
		mu    sync.Mutex
		ended []flows.Flow
		shown int64
	)
	c.OnEnd = func(fl *flows.Flow) {
		mu.Lock()
		defer mu.Unlock()
		if f.count > 0 && shown >= f.count {
			return
		}
		shown++
		if f.json {
			out.Emit(fl.Event())
		} else {
			ended = append(ended, *fl)
		}
		if f.count > 0 && shown >= f.count {
			cancel()
		}
	}
	start := time.Now()
	if err := c.Start(ctx, nil); err != nil {
		c.Close()
		return fmt.Errorf("starting the flows collector: %w", err)
	}
	logger.Debug("attached", "kind", flows.KindName, "took", time.Since(start))

	_, tty := isTerminal(stdout)
	prev := map[flowID]*flows.Flow{}
	last := time.Now()
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
		}
		if err := c.Sweep(); err != nil {
			logger.Warn("reading flows", "err", err)
		}
		now := time.Now()
		var live []flows.Flow
		for _, fl := range c.Flows() {
			if flt.PID != 0 && fl.PID != flt.PID || flt.Comm != "" && fl.Comm != flt.Comm {
				continue
			}
			live = append(live, fl)
		}
		mu.Lock()
		if f.json {
			for i := range live {
				fl := &live[i]
				p := prev[idOf(fl)]
				if p == nil || p.BytesSent != fl.BytesSent || p.BytesReceived != fl.BytesReceived ||
					p.PacketsSent != fl.PacketsSent || p.PacketsRecv != fl.PacketsRecv || p.State != fl.State {
					out.Emit(fl.Event())
				}
			}
			out.Flush()
		} else if !done {
			if tty {
				io.WriteString(stdout, "\x1b[H\x1b[2J")
			}
			writeFlowTable(stdout, now, now.Sub(last), live, ended, prev, f.top)
			ended = ended[:0]
		}
		mu.Unlock()
		clear(prev)
		for i := range live {
			prev[idOf(&live[i])] = &live[i]
		}
		last = now
	}
	closeErr := c.Close()
	out.Flush()
	st := c.Stats()
	mu.Lock()
	fmt.Fprintf(stderr, "%d ended flows shown, %d packets untracked (flow map full), %d filtered\n", shown, st.Lost, st.Filtered)
	mu.Unlock()
	if err := out.Err(); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if closeErr != nil {
		logger.Warn("detaching", "err", closeErr)
	}
	return nil
}

// writeFlowTable prints one table: the top open flows by rate (then by
// bytes), and the flows that ended since the previous one.
func writeFlowTable(w io.Writer, now time.Time, dt time.Duration, live, ended []flows.Flow, prev map[flowID]*flows.Flow, top int) {
	type row struct {
		f      *flows.Flow
		tx, rx float64 // bytes per second over the interval
	}
	secs := dt.Seconds()
	if secs <= 0 {
		secs = 1
	}
	rows := make([]row, 0, len(live))
	for i := range live {
		fl := &live[i]
		r := row{f: fl}
		if p := prev[idOf(fl)]; p != nil {
			r.tx = float64(fl.BytesSent-min(p.BytesSent, fl.BytesSent)) / secs
			r.rx = float64(fl.BytesReceived-min(p.BytesReceived, fl.BytesReceived)) / secs
		} else {
			r.tx = float64(fl.BytesSent) / secs
			r.rx = float64(fl.BytesReceived) / secs
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].tx+rows[i].rx, rows[j].tx+rows[j].rx
		if a != b {
			return a > b
		}
		return rows[i].f.BytesSent+rows[i].f.BytesReceived > rows[j].f.BytesSent+rows[j].f.BytesReceived
	})
	fmt.Fprintf(w, "%s  %d flows open, %d ended\n", now.Format("15:04:05"), len(live), len(ended))
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "PROTO\tLOCAL\tREMOTE\tDIR\tPID\tCOMM\tTX\tRX\tTX/s\tRX/s\tTX_PKTS\tRX_PKTS\tRETRANS\tSRTT\tSTATE\tAGE")
	line := func(fl *flows.Flow, tx, rx string) {
		srtt := "-"
		if fl.Proto == "tcp" && fl.SRTT > 0 {
			srtt = fl.SRTT.String()
		}
		state := fl.State
		if fl.End != "" {
			state = "ENDED(" + fl.End + ")"
		} else if state == "" {
			state = "-"
		}
		dir := fl.Direction
		if dir == "" {
			dir = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n",
			fl.Proto, fl.Local, fl.Remote, dir, fl.PID, commOr(fl.Comm), humanCount(float64(fl.BytesSent)), humanCount(float64(fl.BytesReceived)),
			tx, rx, fl.PacketsSent, fl.PacketsRecv, fl.Retransmits, srtt, state, fl.Age(now).Round(time.Second))
	}
	for i, r := range rows {
		if i >= top {
			break
		}
		line(r.f, humanCount(r.tx), humanCount(r.rx))
	}
	for i := range ended {
		line(&ended[i], "-", "-")
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func commOr(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// humanCount writes a byte count or rate in B, K, M or G (powers of 1024).
func humanCount(v float64) string {
	switch {
	case v >= 1<<30:
		return strconv.FormatFloat(v/(1<<30), 'f', 1, 64) + "G"
	case v >= 1<<20:
		return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + "M"
	case v >= 1<<10:
		return strconv.FormatFloat(v/(1<<10), 'f', 1, 64) + "K"
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 0, 64), ".0") + "B"
}
