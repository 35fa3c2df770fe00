package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	nfc "github.com/kscope/kscope/internal/collector/netfilter"
	"github.com/kscope/kscope/internal/netfilter"
)

// filterFlags are the flags every net filter subcommand has.
type filterFlags struct {
	pinDir string
	netns  string
}

// in runs fn in the network namespace --netns names (/run/netns/NAME),
// on a thread of its own, staying in kscope's mount namespace: the pins
// must land on the host's bpffs, which `ip netns exec` would hide behind
// a fresh /sys.
func (f *filterFlags) in(fn func() error) error {
	if f.netns == "" {
		return fn()
	}
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		ns, err := os.Open(filepath.Join("/run/netns", f.netns))
		if err != nil {
			ch <- fmt.Errorf("opening network namespace %s: %w", f.netns, err)
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("entering network namespace %s: %w", f.netns, err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}

func newNetFilterCmd() *cobra.Command {
	ff := &filterFlags{}
	pinDir := &ff.pinDir
	cmd := &cobra.Command{
		Use:   "filter",
		Short: "Filter packets with XDP and TC rules from a YAML file",
		Long: `Packet filters: rules on source and destination CIDRs, protocol and
destination ports, with the actions drop, allow and rate-limit (a token
bucket per source, in the kernel), a default policy, and an audit mode that
counts what would be dropped and lets it pass. Each filter is an XDP program
(ingress) or a TC program (tcx, or a clsact bpf filter where the kernel lacks
tcx; ingress or egress) on one interface, pinned with its maps under
/sys/fs/bpf/kscope/filter/NAME so it stays after kscope exits. suggest
writes a file that allows the flows the agent saw (default drop, audit
mode). See docs/net.md for the file format.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("net filter needs a subcommand: apply, list, stats, remove or suggest")
			}
			return usagef("unknown subcommand %q: want apply, list, stats, remove or suggest", args[0])
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.PersistentFlags().StringVar(pinDir, "pin-dir", nfc.DefaultRoot, "where filters are pinned, one directory each (on bpffs)")
	cmd.PersistentFlags().StringVar(&ff.netns, "netns", "", "the network namespace (a name under /run/netns) of the filters' interfaces")
	cmd.AddCommand(newNetFilterApplyCmd(ff), newNetFilterListCmd(pinDir), newNetFilterStatsCmd(pinDir), newNetFilterRemoveCmd(ff), newNetFilterSuggestCmd(ff))
	return cmd
}

func newNetFilterApplyCmd(ff *filterFlags) *cobra.Command {
	var check bool
	var xdpMode string
	cmd := &cobra.Command{
		Use:   "apply FILE",
		Short: "Load a filter file's filters, replacing those of the same names atomically",
		Long: `Validate FILE, then load each of its filters and attach it to its
interface and hook. A filter of the same name already pinned is replaced: on
the same interface and hook its program is swapped in one step (no packet
meets no filter), and its rules keep their counters by name. Filters the
file does not name are left as they are (remove takes them away).
Interfaces are looked up in kscope's network namespace, or in --netns NAME
(/run/netns/NAME): use --netns rather than 'ip netns exec', whose private
/sys hides the host's bpffs, so the pins would go when kscope exits.

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
			if !slices.Contains(nfc.XDPModes, xdpMode) {
				return usagef("--xdp-mode %q: want one of %s", xdpMode, strings.Join(nfc.XDPModes, ", "))
			}
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
				var st *nfc.Status
				err := ff.in(func() (err error) {
					st, err = nfc.Apply(f, nfc.Options{Root: ff.pinDir, XDPMode: xdpMode})
					return err
				})
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
	cmd.Flags().StringVar(&xdpMode, "xdp-mode", nfc.XDPAuto, "how an xdp filter is attached: auto (the driver's mode where it has one, else generic), native or generic; a filter already attached keeps its mode")
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

func newNetFilterRemoveCmd(ff *filterFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "remove [NAME...]",
		Short: "Detach and unpin filters (every filter without NAME)",
		Long: `Detach the named filters (every pinned filter without a name) and unpin
their programs, maps and links, so that nothing of them is left in the
kernel. A filter attached with clsact (no tcx) is found by its interface:
give the interface's namespace with --netns.`,
		RunE: func(cmd *cobra.Command, names []string) error {
			if len(names) == 0 {
				sts, err := nfc.List(ff.pinDir)
				if err != nil {
					return err
				}
				for _, st := range sts {
					names = append(names, st.Name)
				}
			}
			var failed []string
			for _, n := range names {
				if err := ff.in(func() error { return nfc.Remove(ff.pinDir, n) }); err != nil {
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
