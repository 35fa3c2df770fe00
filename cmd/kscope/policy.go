package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	collpolicy "github.com/kscope/kscope/internal/collector/policy"
	"github.com/kscope/kscope/internal/output"
	"github.com/kscope/kscope/internal/policy"
)

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check, run and test security policies matched in the kernel",
		Long: `Security policies: YAML rules on exec, open, connect, bind, sendmsg, ptrace,
setuid, module_load, bpf, mount, kill and chmod events, matched in the
kernel with hash sets and prefix tables, with the actions alert, kill
(bpf_send_signal(SIGKILL) in the offending task) and deny (EPERM from a
cgroup sock_addr program). Every alert carries the process's ancestry. See
docs/policy.md for the format and policies/ for a library of rules.`,
	}
	cmd.AddCommand(newPolicyCheckCmd(), newPolicyRunCmd(), newPolicyTestCmd())
	return cmd
}

// probedFeatures probes each kernel feature once, when a plan asks.
func probedFeatures() policy.Features {
	var mu sync.Mutex
	seen := map[string]error{}
	return func(name string) error {
		mu.Lock()
		defer mu.Unlock()
		if err, ok := seen[name]; ok {
			return err
		}
		err := collpolicy.Probe(name)
		seen[name] = err
		return err
	}
}

// loadPlans loads the files and plans their rules; a policy error is a
// usage error (exit 2).
func loadPlans(files []string, audit bool) ([]*policy.Plan, error) {
	rules, err := policy.Load(files)
	if err != nil {
		return nil, usageError{err}
	}
	if _, err := bpfx.Prepare(); err != nil {
		slog.Debug("preparing mounts", "err", err)
	}
	plans, err := policy.PlanRules(rules, probedFeatures(), audit)
	if err != nil {
		return nil, usageError{err}
	}
	if err := policy.Compile(plans).CheckCapacity(); err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", strings.Join(files, ", "), err)}
	}
	return plans, nil
}

func newPolicyCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate policy files and show how each rule runs on this kernel",
		Long: `Validate policy files and print each rule: where it runs (kernel, or user
space for globs and args), the action it takes on this kernel and
how, and the fallback taken when the kernel cannot do the rule's own action
(never silently). The kernel's features are probed, so run it as root on the
host the policy is for.

Exit status: 0 when every rule is valid, 2 on any error (file:line:col).`,
		Example: "  sudo kscope policy check policies/*.yaml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			plans, err := loadPlans(files, false)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, p := range plans {
				fmt.Fprintf(w, "%s: %s\n", p.Rule.Pos, p.Describe())
			}
			fmt.Fprintf(w, "%d rules valid\n", len(plans))
			return nil
		},
	}
}

// cgroup2Dir returns the cgroup v2 mount the connect programs attach to
// by default: /sys/fs/cgroup/unified on hybrid hosts, else /sys/fs/cgroup.
func cgroup2Dir() string {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	return ""
}

func newPolicyRunCmd() *cobra.Command {
	var (
		asJSON, audit bool
		cgroup        string
	)
	cmd := &cobra.Command{
		Use:   "run FILE... [--json] [--audit] [--cgroup DIR]",
		Short: "Enforce policy files in the foreground, printing alerts",
		Long: `Load the rules into the kernel and enforce them until SIGINT or SIGTERM,
which detach everything. Each match prints an alert (a table, or JSON lines
with --json) naming the rule, the action and its outcome; --audit reports
what every rule's action would do and lets every operation through. connect,
bind and sendmsg rules run on the cgroup v2 directory --cgroup and everything
below it (the cgroup2 root by default). At exit the matches of each rule are
printed to stderr.`,
		Example: "  sudo kscope policy run policies/tmp-exec.yaml\n  sudo kscope policy run --audit --json policies/*.yaml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			plans, err := loadPlans(files, audit)
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			if err := bpfx.CheckPrivileges(); err != nil {
				return err
			}
			for _, p := range plans {
				if p.Fallback != "" {
					fmt.Fprintf(stderr, "%s: %s\n", p.Rule.Pos, p.Describe())
				}
			}
			if cgroup == "" {
				cgroup = cgroup2Dir()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			c, err := collpolicy.New(collpolicy.Config{Plans: plans, Cgroup: cgroup, Logger: logger})
			if err != nil {
				return err
			}
			out := output.NewWriter(cmd.OutOrStdout(), asJSON)
			if err := c.Start(ctx, out); err != nil {
				c.Close()
				return fmt.Errorf("starting the policy: %w", err)
			}
			out.Header(policy.AlertKind.Name)
			fmt.Fprintf(stderr, "%d rules loaded; Ctrl-C detaches\n", len(plans))
			<-ctx.Done()
			closeErr := c.Close()
			out.Flush()
			writeCounts(stderr, plans, c.Counts())
			if st := c.Stats(); st.Lost > 0 {
				fmt.Fprintf(stderr, "%d records lost (buffer full: alerts, or execs that name ancestors); the counts above are exact\n", st.Lost)
			}
			return errors.Join(out.Err(), closeErr)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print alerts as JSON lines")
	cmd.Flags().BoolVar(&audit, "audit", false, "audit every rule: report what its action would do, let everything through")
	cmd.Flags().StringVar(&cgroup, "cgroup", "", "cgroup v2 directory the connect rules apply to (default: the cgroup2 root)")
	return cmd
}

func writeCounts(w io.Writer, plans []*policy.Plan, counts []uint64) {
	for i, p := range plans {
		fmt.Fprintf(w, "%-32s %8d matches (%s)\n", p.Rule.Name, counts[i], p.Action)
	}
}

func newPolicyTestCmd() *cobra.Command {
	var ev string
	cmd := &cobra.Command{
		Use:   "test FILE... --event JSON",
		Short: "Evaluate one recorded event against policy files, offline",
		Long: `Evaluate one event, as kscope trace --json or the agent record it, against
the rules, with the same semantics as the kernel side, and print each rule
that matches with the action it would take. The event needs its type
(exec, open or connect) and uid; exec reads filename, argv and comm, open
path and flags, connect daddr, dport and proto. binary and parent name the
process's and its parent's binaries where the event does not carry them.
--event - reads the event from stdin.

Exit status: 0 when a rule matches, 1 when none does, 2 on a bad policy or
event.`,
		Example: `  kscope policy test no-tmp-exec.yaml --event '{"type":"exec","uid":1000,"filename":"/tmp/x"}'`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if ev == "" {
				return usagef("--event is required")
			}
			data := []byte(ev)
			if ev == "-" {
				var err error
				if data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20)); err != nil {
					return fmt.Errorf("reading the event: %w", err)
				}
			}
			e, err := policy.ParseEvent(data)
			if err != nil {
				return usageError{err}
			}
			rules, err := policy.Load(files)
			if err != nil {
				return usageError{err}
			}
			w := cmd.OutOrStdout()
			n := 0
			for _, r := range rules {
				if r.Matches(e) {
					n++
					fmt.Fprintf(w, "%s: match: %s (%s, %s)\n", r.Name, r.Action, r.Mode, r.Severity)
				}
			}
			if n == 0 {
				fmt.Fprintf(w, "no rule matches\n")
				return errNoMatch
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&ev, "event", "", "the event as JSON ('-': read it from stdin)")
	return cmd
}

var errNoMatch = errors.New("no rule matches the event")
