// Command kscope is eBPF observability for Linux in one binary.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // could not do the job: privileges, kernel, I/O
	exitUsage   = 2 // bad command line
)

// usageError marks a bad command line: exit code 2.
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var code exitCode // exit(code) in a kscope run script
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintf(stderr, "kscope: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintln(stderr, "Run 'kscope --help' for usage.")
		return exitUsage
	}
	return exitFailure
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "kscope",
		Short: "eBPF observability for Linux",
		Long: `kscope collects telemetry straight from the Linux kernel and from user
programs with eBPF. 'kscope agent' keeps it as Prometheus metrics and
stored events; 'kscope trace' streams events live.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCmd(), newDoctorCmd(), newTraceCmd(), newAgentCmd(), newQueryCmd(), newEventsCmd(), newProfileCmd(), newTopCmd())
	root.AddCommand(newUSDTCmd())
	root.AddCommand(newRunCmd())
	root.AddCommand(newNetCmd())
	root.AddCommand(newPolicyCmd())
	return root
}
