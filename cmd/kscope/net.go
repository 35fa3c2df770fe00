package main

import (
	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/collector/drops"
)

func newNetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "net",
		Short: "Network analysis: dropped packets and DNS",
		Long: `Network analysis attributed to processes. Each subcommand streams one
line per event until interrupted (--json: one JSON object per line), then
prints on stderr the events shown, lost (ring buffer full) and filtered.`,
		Args: noArgs,
	}
	cmd.AddCommand(newNetDropsCmd())
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
