package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/client"
	"github.com/kscope/kscope/internal/collector/probes"
	"github.com/kscope/kscope/internal/probe"
	"github.com/kscope/kscope/internal/probe/ast"
	probecheck "github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/probe/codegen"
	probrun "github.com/kscope/kscope/internal/probe/run"
)

type runFlags struct {
	program string
	list    bool
	verbose bool
	pid     int
	command string
	format  string
	output  string
	quiet   bool
	unsafe  bool
	debug   bool
	server  string
	every   time.Duration
	name    string
	httpCfg string
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [flags] SCRIPT.bt [ARGS…] | -e PROGRAM [ARGS…] | -l PATTERN",
		Short: "Run a bpftrace script, compiled by kscope (no LLVM, no clang)",
		Long: `kscope run compiles a script in the bpftrace language straight to BPF
bytecode, loads it, runs BEGIN, attaches its probes, prints its printf
output as it comes and, at exit (exit(), Ctrl-C, or the end of the -c
command), runs END and prints its maps as bpftrace does.

Positional parameters $1, $2… and $# come from the arguments after the
script. docs/run.md lists the parts of the language compiled so far; the
rest is a compile error naming the feature.

Exit codes: 0; 1 for a compile, load or attach error; 2 for usage.`,
		Example: `  sudo kscope run -e 'tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }'
  sudo kscope run -c 'ls /' -e 'tracepoint:syscalls:sys_enter_openat /pid == cpid/ { printf("%s\n", str(args->filename)); }'
  sudo kscope run -l 'tracepoint:sched:*'
  sudo kscope run script.bt 100`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScript(cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringVarP(&f.program, "e", "e", "", "the program to run, instead of a script file")
	fl.BoolVarP(&f.list, "list", "l", false, "list the probes matching the pattern (tracepoints, a binary's uprobes and usdt probes)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "with -l: show each probe's arguments; when running: print each probe's run count, ns per run and the losses on exit")
	fl.IntVarP(&f.pid, "pid", "p", 0, "attach uprobes to this process only, and stop when it exits")
	fl.StringVarP(&f.command, "cmd", "c", "", "run this command, trace it (cpid), and stop when it exits")
	fl.StringVarP(&f.format, "format", "f", "text", "output format: text or json (bpftrace's JSON schema)")
	fl.StringVarP(&f.output, "output", "o", "", "write the output to this file")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "do not print the 'Attaching N probes' line")
	fl.BoolVar(&f.unsafe, "unsafe", false, "allow the functions that change the system (system, signal)")
	fl.BoolVarP(&f.debug, "debug", "d", false, "print the generated BPF and the verifier's log")
	fl.StringVar(&f.server, "server", "", "also push the maps to the agent at this URL (http[s]://[user:password@]host:port) as kscope_probe_NAME_MAP series: every --push-interval and on exit")
	fl.DurationVar(&f.every, "push-interval", 15*time.Second, "with --server: how often to push the maps while the script runs (0: only on exit)")
	addHTTPConfigFlag(fl, &f.httpCfg)
	fl.StringVar(&f.name, "name", "", "with --server: the script's name in the metric names (default: the file's name without .bt; oneliner for -e)")
	return cmd
}

func runScript(cmd *cobra.Command, f runFlags, args []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.format != "text" && f.format != "json" {
		return usagef("-f takes text or json, not %q", f.format)
	}
	if f.list {
		if len(args) > 1 || f.program != "" {
			return usagef("-l takes one pattern")
		}
		pattern := "*:*"
		if len(args) == 1 {
			pattern = args[0]
		}
		return listProbes(stdout, stderr, pattern, f.verbose, f.pid)
	}
	file, src, params := "", []byte(nil), args
	switch {
	case f.program != "":
		file, src = "-e", []byte(f.program)
	case len(args) == 0:
		return usagef("no script: give SCRIPT.bt or -e PROGRAM")
	default:
		file, params = args[0], args[1:]
		var err error
		if src, err = os.ReadFile(file); err != nil {
			return fmt.Errorf("reading the script: %w", err)
		}
	}
	if f.pid < 0 {
		return usagef("-p takes a process id, not %d", f.pid)
	}
	var pushTo *client.Client
	if f.server != "" {
		c, err := agentAPI(f.server, f.httpCfg, 30*time.Second)
		if err != nil {
			return err
		}
		pushTo = c
	} else if f.name != "" {
		return usagef("--name goes with --server")
	} else if cmd.Flags().Changed("push-interval") {
		return usagef("--push-interval goes with --server")
	}
	if f.every < 0 {
		return usagef("--push-interval takes a duration of 0 or more, not %s", f.every)
	}
	scriptName := f.name
	switch {
	case scriptName != "":
		if probe.MetricPart(scriptName) != scriptName {
			return usagef("--name takes letters, digits and '_', not %q", scriptName)
		}
	case f.program != "":
		scriptName = "oneliner"
	default:
		scriptName = probe.ScriptName(file)
	}
	if f.command != "" && f.pid != 0 {
		return usagef("-c and -p cannot be used together")
	}
	if f.pid != 0 {
		if err := unix.Kill(f.pid, 0); errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("process %d: no such process", f.pid)
		}
	}
	if params == nil {
		params = []string{}
	}
	out := stdout
	if f.output != "" {
		o, err := os.Create(f.output)
		if err != nil {
			return fmt.Errorf("opening the output file: %w", err)
		}
		defer o.Close()
		out = o
	}
	// The traced command starts now, blocked until the probes are attached,
	// so that its pid (cpid) is known when compiling.
	var child *exec.Cmd
	var release *os.File
	if f.command != "" {
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("starting the command: %w", err)
		}
		child = exec.Command("/bin/sh", "-c", "read _ <&3; exec 3<&-; exec "+f.command)
		// The command writes to kscope's own standard output and error, as
		// under bpftrace: not through the writers, which -o may redirect.
		child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
		child.ExtraFiles = []*os.File{r}
		if err := child.Start(); err != nil {
			r.Close()
			w.Close()
			return fmt.Errorf("starting the command: %w", err)
		}
		r.Close()
		release = w
		// The shell's own start-up (dash calls getppid) must not be
		// traced: attach only once it waits in read(2) for the release.
		waitInRead(child.Process.Pid)
		defer func() {
			if release != nil { // never attached: do not let it run
				child.Process.Kill()
				release.Close()
				child.Wait()
			}
		}()
	}
	script, err := probe.Load(file, src, &probecheck.Config{Params: params, Unsafe: f.unsafe, Child: child != nil})
	if err != nil {
		return err
	}
	opts := codegen.Options{Format: probrun.Formats, Tracepoints: probrun.ListTracepoints, USDT: probrun.USDTSites(f.pid), BTF: bpfx.KernelTypes, Hook: probrun.Hook, Params: params, File: file, Source: src}
	probrun.Resolvers(&opts, f.pid)
	if child != nil {
		opts.ChildPID = child.Process.Pid
	}
	if v, ok := script.Info.Config["max_strlen"].(*ast.IntLit); ok {
		opts.MaxStrlen = int(v.Value)
	}
	if v, ok := script.Info.Config["max_map_keys"].(*ast.IntLit); ok {
		opts.MaxMapKeys = int(v.Value)
	}
	if v, ok := script.Info.Config["perf_rb_pages"].(*ast.IntLit); ok {
		// bpftrace's per-CPU page count sizes kscope's one ring buffer.
		size := 4096
		for size < int(v.Value)*4096 && size < 1<<30 {
			size *= 2
		}
		opts.RingSize = size
	}
	if _, err := bpfx.Prepare(); err != nil {
		return err
	}
	obj, err := codegen.Compile(script.Program, script.Info, opts)
	if err != nil {
		return err
	}
	cfg := probrun.Config{Out: out, Err: stderr, JSON: f.format == "json", Quiet: f.quiet, PID: f.pid, Stats: f.verbose, File: file, Source: src}
	if f.debug {
		cfg.Debug = stderr
	}
	var (
		pushErr error
		pusher  *pusher
	)
	if pushTo != nil {
		pusher = newPusher(pushTo, f.server, probes.NewFamilies(scriptName, obj, 0))
		cfg.Final = func(maps []*probrun.MapData, err error) {
			pushErr = pusher.final(cmd.Context(), maps, err)
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sess, err := probrun.Start(obj, cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if pusher != nil {
		pusher.start(f.every, sess.ReadMaps)
	}
	childDone := make(chan error, 1)
	if child != nil {
		release.Close()
		release = nil
		go func() {
			childDone <- child.Wait()
			cancel()
		}()
	}
	if f.pid != 0 {
		go waitPID(ctx, f.pid, cancel)
	}
	sess.Wait(ctx)
	if pusher != nil {
		// Stopped before Stop unloads the maps it reads.
		pusher.halt()
	}
	if child != nil {
		select {
		case <-childDone:
		default: // exit() came first: bpftrace ends the command too
			child.Process.Signal(syscall.SIGTERM)
			<-childDone
		}
	}
	stopErr := sess.Stop()
	if pusher != nil && f.verbose {
		pusher.report(stderr)
	}
	if stopErr != nil {
		return stopErr
	}
	if pushErr != nil {
		return pushErr
	}
	if code := sess.ExitCode(); code != 0 {
		return exitCode(code)
	}
	return nil
}

// exitCode is the exit code a script gave exit(code): kscope exits with
// it and prints nothing more.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// waitInRead waits (up to 10 s) until process pid is blocked in read(2),
// as /proc/PID/syscall shows.
func waitInRead(pid int) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
		if err != nil {
			return
		}
		if f := strings.Fields(string(data)); len(f) > 0 && f[0] == "0" {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// waitPID cancels when process pid exits.
func waitPID(ctx context.Context, pid int, cancel func()) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		cancel()
		return
	}
	defer unix.Close(fd)
	for ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 200)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if n > 0 {
			cancel()
			return
		}
	}
}

// listProbes prints the probes matching pattern, as bpftrace -l does:
// tracepoints (with -v their fields), and a binary's functions
// (uprobe:BINARY:GLOB) and USDT probes (usdt:BINARY:[PROVIDER:]GLOB).
func listProbes(w, stderr io.Writer, pattern string, verbose bool, pid int) error {
	provider := "tracepoint"
	if p, rest, ok := strings.Cut(pattern, ":"); ok {
		switch p {
		case "uprobe", "u", "uretprobe", "ur":
			bin, fn, ok := strings.Cut(rest, ":")
			if !ok || bin == "" {
				return usagef("-l %q: want uprobe:BINARY:FUNCTION (a glob)", pattern)
			}
			found, fns, err := probrun.ListFunctions(bin, fn, pid)
			if err != nil {
				return resolveError(err)
			}
			if p == "u" || p == "ur" {
				p = map[string]string{"u": "uprobe", "ur": "uretprobe"}[p]
			}
			for _, f := range fns {
				fmt.Fprintf(w, "%s:%s:%s\n", p, found, f)
			}
			return nil
		case "kprobe", "k", "kretprobe", "kr", "fentry", "f", "kfunc", "fexit", "fr", "kretfunc":
			if strings.Contains(rest, ":") {
				return usagef("-l %q: want %s:FUNCTION (a glob; kernel modules are not listed)", pattern, p)
			}
			if rest == "" {
				rest = "*"
			}
			full := map[string]string{"k": "kprobe", "kr": "kretprobe", "f": "fentry", "fr": "fexit"}[p]
			if full == "" {
				full = p
			}
			tracefs := full == "kprobe" || full == "kretprobe"
			fns, warn, err := probrun.ListKernelFunctions(rest, tracefs, verbose)
			if warn != "" {
				fmt.Fprintf(stderr, "kscope: %s\n", warn)
			}
			if err != nil {
				return err
			}
			for _, fn := range fns {
				fmt.Fprintf(w, "%s:%s\n", full, fn.Name)
				if !verbose {
					continue
				}
				for _, a := range fn.Args {
					fmt.Fprintf(w, "    %s\n", a)
				}
				if fn.Ret != "" && (full == "fexit" || full == "kretfunc" || full == "kretprobe") {
					fmt.Fprintf(w, "    %s retval\n", fn.Ret)
				}
			}
			return nil
		case "usdt", "U":
			parts := strings.Split(rest, ":")
			if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
				return usagef("-l %q: want usdt:BINARY:[PROVIDER:]NAME (globs)", pattern)
			}
			prov, name := "*", parts[len(parts)-1]
			if len(parts) == 3 {
				prov = parts[1]
			}
			found, probes, err := probrun.ListUSDT(parts[0], prov, name, pid)
			if err != nil {
				return resolveError(err)
			}
			for _, pr := range probes {
				fmt.Fprintf(w, "usdt:%s:%s\n", found, pr)
			}
			return nil
		}
	}
	if p, rest, ok := strings.Cut(pattern, ":"); ok && !strings.Contains(rest, ":") && p != "tracepoint" && p != "t" {
		pattern = "*:" + pattern // "sched:*" style
	} else if ok && p != "tracepoint" && p != "t" && p != "*" {
		return usagef("-l lists tracepoints, kprobes, fentry functions, uprobes and usdt probes, not %s probes", p)
	}
	tps, err := probrun.ListTracepoints(pattern)
	if err != nil {
		return err
	}
	for _, tp := range tps {
		fmt.Fprintf(w, "%s:%s\n", provider, tp)
		if !verbose {
			continue
		}
		c, n, _ := strings.Cut(tp, ":")
		fm, err := probrun.Formats(c, n)
		if err != nil {
			continue
		}
		for _, fl := range fm.Fields {
			typ := fl.Type
			if fl.DataLoc {
				typ = "__data_loc " + typ + "[]"
			}
			arr := ""
			if fl.Array > 0 {
				arr = "[" + strconv.Itoa(fl.Array) + "]"
			}
			fmt.Fprintf(w, "    %s %s%s\n", typ, fl.Name, arr)
		}
	}
	return nil
}
