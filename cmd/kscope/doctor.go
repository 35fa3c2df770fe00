package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/doctor"
)

// doctorTimeout bounds the feature probes; they take well under a second.
const doctorTimeout = 10 * time.Second

func newDoctorCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor [--json]",
		Short: "Check what kscope can do on this host",
		Long: `Check whether kscope can run on this host and what it can use.

doctor reports the kernel release, whether the kernel has BTF, this
process's privileges and the tracefs, debugfs and bpf filesystems (mounting
those that are missing). Then it loads and attaches a tiny program for each
kernel feature kscope may use (tracepoints, kprobes, fentry, uprobes, perf
events, ring buffers, XDP, cgroup hooks, LSM, iterators...) and reports
whether it works, the kernel's error when not, and the fallback kscope uses
instead. See docs/doctor.md.

Exit status: 0 when kscope can run here (privileges, BTF, tracefs,
tracepoints and ring buffers), 1 otherwise, with the reason on stderr.`,
		Example: "  sudo kscope doctor\n  sudo kscope doctor --json | jq '.features[] | select(.supported | not)'",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), doctorTimeout)
			defer cancel()
			r := doctor.Run(ctx)
			write := r.WriteTable
			if asJSON {
				write = r.WriteJSON
			}
			if err := write(cmd.OutOrStdout()); err != nil {
				return fmt.Errorf("writing the report: %w", err)
			}
			return r.Err()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	return cmd
}
