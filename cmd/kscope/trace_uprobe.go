package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kscope/kscope/internal/collector"
	kuprobe "github.com/kscope/kscope/internal/collector/uprobe"
	"github.com/kscope/kscope/internal/uprobe"
	"github.com/kscope/kscope/internal/usdt"
)

func newTraceUprobeCmd() *cobra.Command {
	var (
		f       traceFlags
		args    int
		str     int
		withRet bool
	)
	cmd := &cobra.Command{
		Use:   "uprobe BINARY:FUNCTION [flags]",
		Short: traceShort(kuprobe.KindUprobe),
		Long: `Trace every call of one function of an executable or shared library.

BINARY is a path, a program in $PATH, or a library name looked up in the ldconfig
cache and standard directories ("libssl.so.3", "libssl", "libc"); with --pid,
the files the process maps come first, and an empty BINARY (":FUNCTION") is
the process's executable. FUNCTION is a symbol (.symtab, .dynsym), a demangled
C++ name with or without parameters ("ns::Klass::method"), a Go function
("main.handle", also in stripped Go binaries), or a hex address (0x401136).

Probes go on the file, so processes started after attaching are traced too.
Every event has time, type, pid, tid, ppid, uid, comm, cgroup_id, start_ns,
start_time and parent_start_ns; uprobe
events add probe, args (--args registers, as signed 64-bit integers), str
(--str), and with --ret the return value ret and latency_ns, reported when
the call returns.

C functions read arguments from the System V registers (rdi, rsi, rdx, rcx,
r8, r9; at most 6). Go functions use Go's register ABI (rax, rbx, rcx, rdi,
rsi, r8, r9, r10, r11; at most 9), where a string takes two registers (pointer,
length) and --str K reads the string whose pointer is register K and length
register K+1. Go returns are probed on the function's RET instructions, not
with a uretprobe, which breaks goroutine stacks.`,
		Example: `  sudo kscope trace uprobe /usr/bin/bash:readline --ret
  sudo kscope trace uprobe libc:malloc --args 1 --count 20
  sudo kscope trace uprobe libssl.so.3:SSL_write --args 3 --pid 1234
  sudo kscope trace uprobe ./server:main.handle --args 2 --str 1 --ret --json`,
		Args: func(_ *cobra.Command, a []string) error {
			if len(a) != 1 {
				return usagef("trace uprobe needs one BINARY:FUNCTION, got %d arguments", len(a))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			if f.pid < 0 || f.pid > 1<<22 {
				return usagef("--pid %d: not a process id", f.pid)
			}
			tg, err := uprobe.Resolve(a[0], int(f.pid))
			if err != nil {
				return resolveError(err)
			}
			opts := kuprobe.Options{Function: tg, Args: args, Str: str, Ret: withRet, PID: int(f.pid)}
			// Validate before asking for privileges.
			if _, err := kuprobe.New(collector.Config{}, opts); err != nil {
				return usagef("%v", err)
			}
			// Name the file chosen: a library name may match several.
			fmt.Fprintf(cmd.ErrOrStderr(), "tracing %s\n", tg)
			return runTraceWith(cmd, "uprobe", f, func(cfg collector.Config) (collector.Collector, error) {
				return kuprobe.New(cfg, opts)
			})
		},
	}
	addTraceFlags(cmd, &f)
	fl := cmd.Flags()
	fl.IntVar(&args, "args", 0, "report this many integer argument registers (C: up to 6, Go: up to 9)")
	fl.IntVar(&str, "str", 0, "read argument K (1-based) as a string (C: NUL-terminated; Go: pointer in K, length in K+1)")
	fl.BoolVar(&withRet, "ret", false, "report at return, with the return value and latency")
	return cmd
}

func newTraceUSDTCmd() *cobra.Command {
	var (
		f   traceFlags
		str int
	)
	cmd := &cobra.Command{
		Use:   "usdt BINARY:PROVIDER:NAME [flags]",
		Short: traceShort(kuprobe.KindUSDT),
		Long: `Trace every hit of one USDT (<sys/sdt.h>) probe, at all of its sites.

BINARY is found as for 'kscope trace uprobe'; with --pid it may be left out
(PROVIDER:NAME): the process's executable and libraries are searched. List
probes with 'kscope usdt list'.

Arguments are decoded in the kernel from each site's argument spec
(registers, memory operands, constants) to their declared size and
signedness. A probe with a semaphore is enabled while traced, in running
processes and in processes started later; the semaphore is restored when
kscope detaches. Every event has time, type, pid, tid, ppid, uid, comm,
cgroup_id, start_ns, start_time and parent_start_ns; usdt events add probe, binary, args and str (--str).`,
		Example: `  sudo kscope trace usdt libstdc++:libstdcxx:throw
  sudo kscope trace usdt ./server:myapp:request --str 1
  sudo kscope trace usdt --pid 1234 myapp:request --json`,
		Args: func(_ *cobra.Command, a []string) error {
			if len(a) != 1 {
				return usagef("trace usdt needs one BINARY:PROVIDER:NAME, got %d arguments", len(a))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			if f.pid < 0 || f.pid > 1<<22 {
				return usagef("--pid %d: not a process id", f.pid)
			}
			u, err := findUSDT(a[0], int(f.pid))
			if err != nil {
				return err
			}
			opts := kuprobe.Options{USDT: u, Str: str, PID: int(f.pid)}
			if _, err := kuprobe.New(collector.Config{}, opts); err != nil {
				return usagef("%v", err)
			}
			sites := "1 site"
			if len(u.Probes) != 1 {
				sites = strconv.Itoa(len(u.Probes)) + " sites"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "tracing %s:%s (%s)\n", u.Binary, &u.Probes[0], sites)
			return runTraceWith(cmd, "usdt", f, func(cfg collector.Config) (collector.Collector, error) {
				return kuprobe.New(cfg, opts)
			})
		},
	}
	addTraceFlags(cmd, &f)
	cmd.Flags().IntVar(&str, "str", 0, "read argument K (1-based) as a NUL-terminated string")
	return cmd
}

// resolveError makes a missing binary or symbol a usage error.
func resolveError(err error) error {
	if errors.Is(err, uprobe.ErrNoBinary) || errors.Is(err, uprobe.ErrNoSymbol) || errors.Is(err, uprobe.ErrAmbiguous) || errors.Is(err, uprobe.ErrSpec) || errors.Is(err, usdt.ErrNoProbe) {
		return usageError{err}
	}
	return err
}

// findUSDT resolves BINARY:PROVIDER:NAME, or PROVIDER:NAME in the files of
// process pid.
func findUSDT(spec string, pid int) (*usdt.Target, error) {
	parts := strings.Split(spec, ":")
	switch {
	case len(parts) == 3 && parts[1] != "" && parts[2] != "":
		found, path, err := uprobe.FindBinary(parts[0], pid)
		if err != nil {
			return nil, resolveError(err)
		}
		u, err := usdt.Find(found, path, parts[1], parts[2])
		return u, resolveError(err)
	case len(parts) == 2 && parts[0] != "" && parts[1] != "" && pid > 0:
		files, err := processFiles(pid)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if u, err := usdt.Find(f, procRoot(pid)+f, parts[0], parts[1]); err == nil {
				return u, nil
			}
		}
		return nil, usagef("%v %s: in none of the %d files process %d maps (see kscope usdt list --pid %d)", usdt.ErrNoProbe, spec, len(files), pid, pid)
	case len(parts) == 2:
		return nil, usagef("%q: give BINARY:PROVIDER:NAME, or PROVIDER:NAME with --pid", spec)
	}
	return nil, usagef("%q: want BINARY:PROVIDER:NAME", spec)
}

func procRoot(pid int) string { return "/proc/" + strconv.Itoa(pid) + "/root" }

// processFiles returns the executable of pid and the other files it maps
// executable.
func processFiles(pid int) ([]string, error) {
	exe, _, err := uprobe.FindBinary("", pid)
	if err != nil {
		return nil, err
	}
	libs, err := uprobe.MappedLibraries(pid)
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	files := []string{exe}
	for _, l := range libs {
		if l != exe {
			files = append(files, l)
		}
	}
	return files, nil
}

func newUSDTCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "usdt",
		Short: "Inspect USDT probes of programs and libraries",
		Args: func(_ *cobra.Command, a []string) error {
			if len(a) == 0 {
				return usagef("usdt needs a subcommand: list")
			}
			return usagef("unknown usdt subcommand %q: want list", a[0])
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	var (
		pid     int
		jsonOut bool
	)
	list := &cobra.Command{
		Use:   "list [BINARY] [--pid P]",
		Short: "List the USDT probes of a binary, or of a process and its libraries",
		Long: `List the USDT probes (.note.stapsdt) of a binary, or with --pid of the
process's executable and every shared library it maps: provider, name,
address (link-time, as in 'readelf -n'), file offset, semaphore address
(0: none) and argument specs. Needs no privileges beyond reading the files.`,
		Example: "  kscope usdt list libstdc++\n  kscope usdt list --pid 1234 --json",
		Args: func(_ *cobra.Command, a []string) error {
			if len(a) > 1 || (len(a) == 0) == (pid == 0) {
				return usagef("usdt list needs a BINARY or --pid (one of them)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			if pid < 0 {
				return usagef("--pid %d: not a process id", pid)
			}
			var files [][2]string // as found, path to open
			if len(a) == 1 {
				found, path, err := uprobe.FindBinary(a[0], pid)
				if err != nil {
					return resolveError(err)
				}
				files = append(files, [2]string{found, path})
			} else {
				fs, err := processFiles(pid)
				if err != nil {
					return err
				}
				for _, f := range fs {
					files = append(files, [2]string{f, procRoot(pid) + f})
				}
			}
			return listUSDT(cmd, files, jsonOut, pid != 0)
		},
	}
	list.Flags().IntVar(&pid, "pid", 0, "list the probes of this process's executable and libraries")
	list.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object per probe site")
	cmd.AddCommand(list)
	return cmd
}

func listUSDT(cmd *cobra.Command, files [][2]string, jsonOut, quiet bool) error {
	out := cmd.OutOrStdout()
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	if !jsonOut {
		fmt.Fprintln(tw, "BINARY\tPROVIDER\tNAME\tADDRESS\tOFFSET\tSEMAPHORE\tARGS")
	}
	enc := json.NewEncoder(out)
	total := 0
	for _, f := range files {
		probes, err := usdt.Open(f[1])
		if err != nil && len(probes) == 0 {
			if quiet {
				continue // a process's file we cannot read, or no ELF: skip
			}
			if os.IsNotExist(err) {
				return usageError{err}
			}
			return fmt.Errorf("%s: %w", f[0], err)
		}
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "kscope: %s: %v\n", f[0], err)
		}
		for _, p := range probes {
			total++
			if jsonOut {
				if err := enc.Encode(struct {
					Binary string `json:"binary"`
					usdt.Probe
				}{f[0], p}); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%#x\t%#x\t%#x\t%s\n", f[0], p.Provider, p.Name, p.PC, p.Offset, p.Semaphore, p.ArgSpec)
		}
	}
	if !jsonOut {
		tw.Flush()
	}
	if len(files) == 1 {
		// Name the file: a library name may match several.
		fmt.Fprintf(cmd.ErrOrStderr(), "%d probe sites in %s\n", total, files[0][0])
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "%d probe sites in %d files\n", total, len(files))
	}
	return nil
}
