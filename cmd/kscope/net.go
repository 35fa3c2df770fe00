package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/dns"
	"github.com/kscope/kscope/internal/collector/drops"
)

func newNetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "net",
		Short: "Network analysis: flows, dropped packets, DNS, capture and filtering",
		Long: `Network analysis attributed to processes. flows shows a live table of
flows; drops and dns stream one line per event until interrupted (--json:
one JSON object per line), then print on stderr the events shown, lost
(ring buffer full) and filtered; capture writes packets a tcpdump filter
accepts, with their process, as pcapng; filter applies XDP and TC rules.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("net needs a subcommand: flows, drops, dns, capture or filter")
			}
			return usagef("unknown subcommand %q: want flows, drops, dns, capture or filter", args[0])
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(newNetFlowsCmd(), newNetDropsCmd(), newNetDNSCmd(), newNetCaptureCmd(), newNetFilterCmd())
	return cmd
}

// netFlags registers the flags every net subcommand has.
func netFlags(cmd *cobra.Command, f *traceFlags) {
	fl := cmd.Flags()
	fl.BoolVar(&f.json, "json", false, "print one JSON object per line")
	fl.Int64Var(&f.count, "count", 0, "stop after this many events")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (e.g. 10s, 5m)")
	fl.StringVar(&f.bufSize, "buffer-size", defaultTraceRing, "ring buffer size, a power of two (e.g. 256K, 8M)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log load and attach details to stderr")
	f.uid = -1
}

func newNetDropsCmd() *cobra.Command {
	var f traceFlags
	cmd := &cobra.Command{
		Use:   "drops [flags]",
		Short: "Stream packets the kernel drops, with its drop reason",
		Long: `Stream packets the kernel drops (skb:kfree_skb), one per line: the
kernel's drop reason (named from the running kernel's enum skb_drop_reason:
NETFILTER_DROP, NO_SOCKET, TCP_CSUM, …), the kernel function that dropped
it, the interface, and the protocol and 5-tuple when the IP header was set.
The process columns are the task that was running, often unrelated to the
packet (a softirq). The agent's drops collector counts the same drops as
kscope_packet_drops_total{reason}.`,
		Example: "  sudo kscope net drops\n  sudo kscope net drops --json --count 10",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTraceWith(cmd, drops.KindName, f, func(cfg collector.Config) (collector.Collector, error) {
				return collector.New(drops.Name, cfg)
			})
		},
	}
	netFlags(cmd, &f)
	return cmd
}

func newNetDNSCmd() *cobra.Command {
	var f traceFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "dns [flags]",
		Short: "Stream DNS queries with their answers, latency and the asking process",
		Long: `Stream DNS over UDP and TCP port 53, one line per query: the asking process
(pid, comm), the server, qname, qtype, rcode (NOERROR, NXDOMAIN, SERVFAIL,
…), the answers and the latency from the query leaving to the answer
arriving, both as the kernel saw them. A query unanswered after --timeout
is reported with timeout true. Every process of the host is seen (the hooks
sit on the cgroup v2 root); messages are parsed with github.com/miekg/dns.`,
		Example: "  sudo kscope net dns\n  sudo kscope net dns --json --comm curl",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usagef("--timeout %s: must be positive", timeout)
			}
			return runTraceWith(cmd, dns.KindName, f, func(cfg collector.Config) (collector.Collector, error) {
				return dns.NewWithTimeout(cfg, timeout)
			})
		},
	}
	netFlags(cmd, &f)
	fl := cmd.Flags()
	fl.Int64Var(&f.pid, "pid", 0, "only this process (tgid)")
	fl.StringVar(&f.comm, "comm", "", "only this command name (exact, at most 15 bytes)")
	fl.BoolVar(&f.failed, "failed", false, "only queries that failed (an rcode other than NOERROR, or a timeout)")
	fl.DurationVar(&timeout, "timeout", dns.DefaultTimeout, "report a query unanswered after this long")
	return cmd
}
