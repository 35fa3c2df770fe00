package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	nfc "github.com/kscope/kscope/internal/collector/netfilter"
	"github.com/kscope/kscope/internal/netfilter"
)

func newNetFilterCmd() *cobra.Command {
	var pinDir string
	cmd := &cobra.Command{
		Use:   "filter",
		Short: "Filter packets with XDP and TC rules from a YAML file",
		Long: `Packet filters: rules on source and destination CIDRs, protocol and
destination ports, with the actions drop, allow and rate-limit (a token
bucket per source, in the kernel), a default policy, and an audit mode that
counts what would be dropped and lets it pass. Each filter is an XDP program
(ingress) or a TC program (tcx, or a clsact bpf filter where the kernel lacks
tcx; ingress or egress) on one interface, pinned with its maps under
/sys/fs/bpf/kscope/filter/NAME so it stays after kscope exits. See
docs/net.md for the file format.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("net filter needs a subcommand: apply, list, stats or remove")
			}
			return usagef("unknown subcommand %q: want apply, list, stats or remove", args[0])
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.PersistentFlags().StringVar(&pinDir, "pin-dir", nfc.DefaultRoot, "where filters are pinned, one directory each (on bpffs)")
	cmd.AddCommand(newNetFilterApplyCmd(&pinDir), newNetFilterListCmd(&pinDir), newNetFilterStatsCmd(&pinDir), newNetFilterRemoveCmd(&pinDir))
	return cmd
}

func newNetFilterApplyCmd(pinDir *string) *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "apply FILE",
		Short: "Load a filter file's filters, replacing those of the same names atomically",
		Long: `Validate FILE, then load each of its filters and attach it to its
interface and hook. A filter of the same name already pinned is replaced: on
the same interface and hook its program is swapped in one step (no packet
meets no filter), and its rules keep their counters by name. Filters the
file does not name are left as they are (remove takes them away).

With --check the file is only validated. Exit status: 0 on success, 1 when
loading or attaching fails, 2 for an invalid file (file:line:col).`,
		Example: "  sudo kscope net filter apply /etc/kscope/filters.yaml\n  kscope net filter apply --check filters.yaml",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("%s takes one filter file, got %d arguments", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			fs, err := netfilter.Load(args[0])
			if err != nil {
				var es netfilter.Errors
				if errors.As(err, &es) {
					return usageError{err}
				}
				return err
			}
			w := cmd.OutOrStdout()
			for _, f := range fs {
				if check {
					fmt.Fprintf(w, "%s: filter %s: %d rules on %s %s, default %s, %s\n", f.Pos, f.Name, len(f.Rules), f.Interface, f.Hook, f.Default, f.Mode)
					continue
				}
				st, err := nfc.Apply(f, nfc.Options{Root: *pinDir})
				if err != nil {
					return fmt.Errorf("applying filter %s: %w", f.Name, err)
				}
				fmt.Fprintf(w, "filter %s: %d rules on %s %s (%s), default %s, %s, program %d\n",
					st.Name, len(st.Rules)-1, st.Interface, st.Hook, st.Attach, st.Default, st.Mode, st.ProgramID)
			}
			if check {
				fmt.Fprintf(w, "%d filters valid\n", len(fs))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "only validate the file")
	return cmd
}

func newNetFilterListCmd(pinDir *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the pinned filters",
		Long: `List the pinned filters: interface, hook, how it is attached (xdp, tcx
or clsact), mode, default, the number of rules, the packets it saw and
dropped (in audit mode: would have dropped), and the file it came from.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sts, err := nfc.List(*pinDir)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), sts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tINTERFACE\tHOOK\tATTACH\tMODE\tDEFAULT\tRULES\tPACKETS\tDROPPED\tSOURCE")
			for _, st := range sts {
				var pk, dr uint64
				for _, r := range st.Rules {
					pk += r.Packets
					dr += r.Dropped
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", st.Name, st.Interface, st.Hook, st.Attach, st.Mode, st.Default, len(st.Rules)-1, pk, dr, st.Source)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newNetFilterStatsCmd(pinDir *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats [NAME]",
		Short: "Print each rule's packet and byte counters",
		Long: `Print the counters of each rule of the filter NAME (of every pinned filter
without NAME), in rule order, then the default's (packets no rule matched):
packets and bytes matched, and packets and bytes dropped (in audit mode:
that would have been dropped). Counters go on across applies of a rule of
the same name.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most one filter name, got %d", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var sts []*nfc.Status
			if len(args) == 1 {
				st, err := nfc.Read(*pinDir, args[0])
				if err != nil {
					return err
				}
				sts = []*nfc.Status{st}
			} else {
				var err error
				if sts, err = nfc.List(*pinDir); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), sts)
			}
			return writeFilterStats(cmd.OutOrStdout(), sts)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeFilterStats(w io.Writer, sts []*nfc.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILTER\tRULE\tACTION\tPACKETS\tBYTES\tDROPPED\tDROPPED_BYTES")
	for _, st := range sts {
		for _, r := range st.Rules {
			action := r.Action
			if r.Rate > 0 {
				action = fmt.Sprintf("%s %d/s burst %d", action, r.Rate, r.Burst)
			}
			if st.Mode == "audit" {
				action += " (audit)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\n", st.Name, r.Name, action, r.Packets, r.Bytes, r.Dropped, r.DroppedBytes)
		}
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newNetFilterRemoveCmd(pinDir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "remove [NAME...]",
		Short: "Detach and unpin filters (every filter without NAME)",
		Long: `Detach the named filters (every pinned filter without a name) and unpin
their programs, maps and links, so that nothing of them is left in the
kernel. Run it in the network namespace of the filter's interface.`,
		RunE: func(cmd *cobra.Command, names []string) error {
			if len(names) == 0 {
				sts, err := nfc.List(*pinDir)
				if err != nil {
					return err
				}
				for _, st := range sts {
					names = append(names, st.Name)
				}
			}
			var failed []string
			for _, n := range names {
				if err := nfc.Remove(*pinDir, n); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					failed = append(failed, n)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "filter %s removed\n", n)
			}
			if len(failed) > 0 {
				return fmt.Errorf("removing filters %s failed", strings.Join(failed, ", "))
			}
			return nil
		},
	}
}
