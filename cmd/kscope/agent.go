package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/agent"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/policy"
)

type agentFlags struct {
	config, dataDir, listen string
	retention, interval     string
	topk                    int
	collectors, disable     string
	check, verbose          bool
	webConfig               string
	// Query limits, named as Prometheus's flags.
	queryTimeout                   string
	queryMaxSamples, queryMaxConcy int
}

func newAgentCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent [flags]",
		Short: "Run the always-on collectors with an embedded metrics and event store",
		Long: `Run kscope's collectors continuously. They aggregate in the kernel; every
interval the agent stores their values in a Prometheus TSDB in the data
directory, and keeps exec, exit, connect, OOM and fatal-signal events in an
event store, both for the retention period.

It serves, on the listen address:
  /metrics                     Prometheus exposition of the current values
  /api/v1/query, query_range,  the Prometheus HTTP API over the stored history:
  series, labels, label/<n>/values   point Grafana's Prometheus data source here
  /api/v1/events               stored events (see 'kscope events')
  /healthz

Flags override the configuration file, which is YAML:

  listen: 127.0.0.1:9464
  data_dir: /var/lib/kscope
  retention: 7d
  interval: 10s
  topk: 50                 # per-process, per-command and per-endpoint series, plus "other"
  event_queue: 8192        # events waiting for the store before drops
  storage: {max_size: 10GB}     # disk budget (default: 10% of the filesystem, at most 10GB)
  events: {rate_limit: 1000}    # events per second per type and collector
  query:                   # bounds on every query, as Prometheus's
    timeout: 2m
    max_samples: 50000000
    max_concurrency: 20
  bpf_stats: {window: 1s, every: 1m}   # BPF run-time statistics sampling; false: never
  collectors:
    tcp: false             # or a block:
    syscalls: {topk: 20, counts_only: true}   # no durations: cheapest
  storage:
    max_series: 20000      # series in memory; at the cap new ones are refused

A collector this kernel cannot run is reported and skipped; the others run.

SIGHUP rereads the configuration file: collectors enabled or disabled, and
whose settings changed, start, stop or restart; the others keep running.
retention, interval and topk apply at once. Flags still override the file.

--web.config.file turns on TLS and basic auth for every endpoint, in the
format Prometheus and node_exporter use:

  tls_server_config:
    cert_file: server.crt
    key_file: server.key
  basic_auth_users:
    alice: $2y$10$...      # bcrypt hash (htpasswd -nBC 10 alice)

On a loopback address the agent answers only requests for localhost,
127.0.0.1, [::1] or the listen address (421 otherwise), which defeats DNS
rebinding. Beyond loopback without authentication it warns loudly.`,
		Example: "  sudo kscope agent\n  sudo kscope agent --check\n  sudo kscope agent --listen 127.0.0.1:9500 --collectors syscalls,tcp --retention 2d",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML configuration file")
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory (default /var/lib/kscope as root, ./kscope-data otherwise)")
	fl.StringVar(&f.listen, "listen", "", "HTTP listen address (default "+config.DefaultListen+")")
	fl.StringVar(&f.retention, "retention", "", "how long to keep metrics and events (default 7d)")
	fl.StringVar(&f.interval, "interval", "", "how often to store the collectors' values (default 10s)")
	fl.IntVar(&f.topk, "topk", 0, "per-process and per-endpoint series kept, plus \"other\" (default 50)")
	fl.StringVar(&f.collectors, "collectors", "", "run exactly these collectors (comma-separated)")
	fl.StringVar(&f.disable, "disable", "", "do not run these collectors (comma-separated)")
	fl.StringVar(&f.webConfig, "web.config.file", "", "TLS and basic auth configuration, in the format of Prometheus and node_exporter (reread on every request)")
	fl.StringVar(&f.queryTimeout, "query.timeout", "", "longest a query may take, its wait for a slot included (default 2m)")
	fl.IntVar(&f.queryMaxSamples, "query.max-samples", 0, "most samples a PromQL query may hold in memory at once (default 50000000)")
	fl.IntVar(&f.queryMaxConcy, "query.max-concurrency", 0, "most PromQL queries evaluated at once; more wait in a bounded queue (default 20)")
	fl.BoolVar(&f.check, "check", false, "attach every enabled collector, report, detach and exit (non-zero if any failed)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log debug details")
	return cmd
}

// agentConfig builds the configuration from the file and the flags.
func agentConfig(f agentFlags) (*config.Config, error) {
	known := agent.DefaultCollectors()
	sections := agent.Sections()
	cfg := config.Default(sections)
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config, sections); err != nil {
			var ce *config.Error
			if errors.As(err, &ce) {
				return nil, usageError{err}
			}
			return nil, err
		}
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	for _, d := range []struct {
		flag, val string
		dst       *time.Duration
	}{
		{"--retention", f.retention, &cfg.Retention},
		{"--interval", f.interval, &cfg.Interval},
		{"--query.timeout", f.queryTimeout, &cfg.Query.Timeout},
	} {
		if d.val == "" {
			continue
		}
		v, err := config.ParseDuration(d.val)
		if err != nil {
			return nil, usagef("%s %q: want a duration like 30s, 15m, 7d", d.flag, d.val)
		}
		*d.dst = v
	}
	if f.interval != "" {
		if err := config.CheckInterval(cfg.Interval); err != nil {
			return nil, usagef("--interval %s: %v", f.interval, err)
		}
	}
	if f.topk < 0 {
		return nil, usagef("--topk %d: must be positive", f.topk)
	}
	if f.topk > 0 {
		if err := config.CheckTopK(f.topk); err != nil {
			return nil, usagef("--topk %d: %v", f.topk, err)
		}
		cfg.TopK = f.topk
	}
	for _, n := range []struct {
		flag     string
		val, max int
		dst      *int
	}{
		{"--query.max-samples", f.queryMaxSamples, math.MaxInt, &cfg.Query.MaxSamples},
		{"--query.max-concurrency", f.queryMaxConcy, config.MaxQueryConcurrency, &cfg.Query.MaxConcurrency},
	} {
		if n.val < 0 || n.val > n.max {
			return nil, usagef("%s %d: want 1 to %d", n.flag, n.val, n.max)
		}
		if n.val > 0 {
			*n.dst = n.val
		}
	}
	names := func(flag, list string) ([]string, error) {
		var out []string
		for _, n := range strings.Split(list, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if _, ok := known[n]; !ok {
				return nil, usagef("%s: unknown collector %q: want some of %s", flag, n, strings.Join(sortedKeys(known), ", "))
			}
			out = append(out, n)
		}
		return out, nil
	}
	if f.collectors != "" {
		only, err := names("--collectors", f.collectors)
		if err != nil {
			return nil, err
		}
		for n, c := range cfg.Collectors {
			c.Enabled = false
			cfg.Collectors[n] = c
		}
		for _, n := range only {
			c := cfg.Collectors[n]
			c.Enabled = true
			cfg.Collectors[n] = c
		}
	}
	off, err := names("--disable", f.disable)
	if err != nil {
		return nil, err
	}
	for _, n := range off {
		c := cfg.Collectors[n]
		c.Enabled = false
		cfg.Collectors[n] = c
	}
	return cfg, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func runAgent(cmd *cobra.Command, f agentFlags) error {
	cfg, err := agentConfig(f)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	stderr := cmd.ErrOrStderr()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if err := agent.ValidateWebConfig(f.webConfig); err != nil {
		return usageError{fmt.Errorf("--web.config.file: %w", err)}
	}
	if f.check {
		if !f.verbose {
			logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		statuses, err := agent.Check(ctx, cfg, logger)
		if pe := (agent.ProbesError{}); errors.As(err, &pe) {
			return usageError{err} // a script is configuration: exit 2
		}
		printStatuses(cmd.OutOrStdout(), statuses)
		return err
	}

	// SIGHUP reloads; caught from here on, so one sent while the
	// collectors load waits for them instead of killing the agent.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	a, err := agent.StartWith(ctx, cfg, agent.Options{WebConfigFile: f.webConfig}, logger)
	if pe := (policy.Errors{}); errors.As(err, &pe) {
		return usageError{err} // a policy file is configuration: exit 2
	}
	if pe := (agent.ProbesError{}); errors.As(err, &pe) {
		return usageError{err} // a script is configuration: exit 2
	}
	if err != nil {
		return err
	}
	stopReload := reloadOnHUP(a, f, hup, logger)
	var running, failed []string
	for _, s := range a.Statuses() {
		if s.Err != nil {
			failed = append(failed, s.Name)
		} else {
			running = append(running, s.Name)
		}
	}
	logger.Info("kscope agent serving", "addr", a.URL(), "data_dir", cfg.DataDir,
		"retention", cfg.Retention, "interval", cfg.Interval, "collectors", strings.Join(running, ","))
	if len(failed) > 0 {
		logger.Warn("collectors not running on this kernel", "collectors", strings.Join(failed, ","))
	}
	err = a.Run(ctx)
	stopReload() // a reload in progress finishes before the agent closes
	// One last collection, so the time of shutdown is in the history.
	a.Ingest(context.Background())
	if cerr := a.Close(); cerr != nil {
		logger.Warn("closing", "err", cerr)
	}
	logger.Info("kscope agent stopped")
	return err
}

// reloadOnHUP reloads the configuration (the file, then the flags over
// it) on every SIGHUP until the returned function is called. A
// configuration that does not load is reported and the running one kept.
func reloadOnHUP(a *agent.Agent, f agentFlags, hup <-chan os.Signal, logger *slog.Logger) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
			}
			cfg, err := agentConfig(f)
			if err != nil {
				logger.Error("reloading the configuration: keeping the running one", "file", f.config, "err", err)
				continue
			}
			start := time.Now()
			res, err := a.Reload(cfg)
			if err != nil {
				logger.Error("reloading the configuration", "err", err)
			}
			if len(res.Ignored) > 0 {
				logger.Warn("these settings apply only at start: restart the agent to change them", "settings", strings.Join(res.Ignored, ","))
			}
			logger.Info("configuration reloaded", "file", f.config, "started", strings.Join(res.Started, ","),
				"stopped", strings.Join(res.Stopped, ","), "restarted", strings.Join(res.Restarted, ","),
				"unchanged", strings.Join(res.Unchanged, ","), "took", time.Since(start).Round(time.Millisecond))
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func printStatuses(w io.Writer, statuses []agent.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COLLECTOR\tSTATUS\tTOOK\tDETAILS")
	for _, s := range statuses {
		status, details := "attached", strings.Join(s.Notes, "; ")
		if s.Err != nil {
			status, details = "FAILED", s.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, status, s.Took.Round(time.Millisecond), details)
	}
	tw.Flush()
}
