// Command minimal_counter is the floor of the syscalls benchmark
// (bench/syscalls.sh): the smallest in-kernel syscall counter worth the
// name. One raw tracepoint program on sys_enter counts calls per comm in a
// per-CPU hash, as `bpftrace -e 'tracepoint:raw_syscalls:sys_enter {
// @[comm] = count(); }'` does, minus bpftrace's own work. It is written with
// cilium/ebpf's assembler: no C, no generated files.
//
//	minimal_counter [-comm NAME] [-noop-exit]
//	minimal_counter -hist
//
// -noop-exit also attaches a program that does nothing to sys_exit: the
// floor of any tracer that times syscalls, which needs both hooks.
//
// -hist is the floor of a syscall latency histogram instead: sys_enter
// keeps the entry time in task local storage (Linux 5.11+), sys_exit adds
// the duration to a log2 histogram in a per-CPU array. No comm.
//
// It writes "ready took=..." on stderr once attached, runs until SIGINT or
// SIGTERM, then writes "N calls counted for comm NAME" (with -hist: "N
// calls timed") on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

const commLen = 16

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("minimal_counter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	comm := fs.String("comm", "getppid_storm", "comm whose count to print at exit")
	noopExit := fs.Bool("noop-exit", false, "also attach a program that does nothing to sys_exit")
	hist := fs.Bool("hist", false, "time every syscall into a log2 histogram instead of counting per comm")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *hist {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		n, err := histogram(ctx, func(took time.Duration) { fmt.Fprintf(stderr, "ready took=%s\n", took) })
		if err != nil {
			fmt.Fprintf(stderr, "minimal_counter: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d calls timed\n", n)
		return 0
	}
	if len(*comm) >= commLen {
		fmt.Fprintf(stderr, "minimal_counter: -comm %q: longer than %d bytes\n", *comm, commLen-1)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	n, err := count(ctx, *comm, *noopExit, func(took time.Duration) { fmt.Fprintf(stderr, "ready took=%s\n", took) })
	if err != nil {
		fmt.Fprintf(stderr, "minimal_counter: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d calls counted for comm %s\n", n, *comm)
	return 0
}

// program returns the counter: comm on the stack, look it up, add one or
// insert one.
func program(counts *ebpf.Map) asm.Instructions {
	return asm.Instructions{
		// bpf_get_current_comm(fp-16, 16)
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -commLen),
		asm.Mov.Imm(asm.R2, commLen),
		asm.FnGetCurrentComm.Call(),
		// r0 = bpf_map_lookup_elem(counts, fp-16)
		asm.LoadMapPtr(asm.R1, counts.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -commLen),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "insert"),
		// (*r0)++: the value is this CPU's
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
		// bpf_map_update_elem(counts, fp-16, &1 at fp-24, BPF_NOEXIST)
		asm.Mov.Imm(asm.R1, 1).WithSymbol("insert"),
		asm.StoreMem(asm.RFP, -commLen-8, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, counts.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -commLen),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -commLen-8),
		asm.Mov.Imm(asm.R4, 1), // BPF_NOEXIST
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}
}

// count attaches the counter, calls ready, waits for ctx and returns the
// calls counted for comm.
func count(ctx context.Context, comm string, noopExit bool, ready func(time.Duration)) (uint64, error) {
	start := time.Now()
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return 0, fmt.Errorf("removing memlock limit: %w", err)
	}
	counts, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "counts", Type: ebpf.PerCPUHash, KeySize: commLen, ValueSize: 8, MaxEntries: 10240,
	})
	if err != nil {
		return 0, fmt.Errorf("creating map: %w", err)
	}
	defer counts.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "count_comm", Type: ebpf.RawTracepoint, License: "GPL", Instructions: program(counts),
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return 0, fmt.Errorf("loading program: %+v", ve)
		}
		return 0, fmt.Errorf("loading program: %w", err)
	}
	defer prog.Close()
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: prog})
	if err != nil {
		return 0, fmt.Errorf("attaching sys_enter: %w", err)
	}
	defer l.Close()
	if noopExit {
		noop, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "noop", Type: ebpf.RawTracepoint, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err != nil {
			return 0, fmt.Errorf("loading the no-op program: %w", err)
		}
		defer noop.Close()
		le, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_exit", Program: noop})
		if err != nil {
			return 0, fmt.Errorf("attaching sys_exit: %w", err)
		}
		defer le.Close()
	}
	ready(time.Since(start))
	<-ctx.Done()
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("detaching: %w", err)
	}
	var key [commLen]byte
	copy(key[:], comm)
	var perCPU []uint64
	if err := counts.Lookup(key, &perCPU); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("reading count: %w", err)
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n, nil
}
