// Command minimal is the floor of the kscope benchmark: the smallest useful
// ring-buffer tracer. One BPF program submits an 8-byte {pid, ret} record per
// call, and this reader only counts records; it decodes and prints nothing.
// What kscope costs above this is the price of its features (header fields,
// strings, filters, decoding, output).
//
//	minimal [-hook open|exec] [-wakeup eager|level|batch] [-wakeup-bytes N]
//
// It writes "ready hook=... took=..." on stderr once attached, runs until
// SIGINT or SIGTERM, then detaches, drains the ring buffer and writes
// "N records read, N lost (buffer full)" on stdout.
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
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
)

// pollEvery matches kscope's reader deadline; the level and batch wakeup
// modes rely on it to pick up a trickle of records.
const pollEvery = 50 * time.Millisecond

// hooks maps -hook to the program that serves it.
var hooks = map[string]string{
	"open": minimalProgSysExitOpenat,
	"exec": minimalProgSysExitExecve,
}

// Wakeup modes, as enum wakeup_mode in bpf/minimal.bpf.c.
var modes = map[string]uint8{"eager": 0, "level": 1, "batch": 2}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("minimal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hook := fs.String("hook", "open", "what to trace: open (tracepoint sys_exit_openat) or exec (tracepoint sys_exit_execve)")
	wakeup := fs.String("wakeup", "batch", "when to wake the reader: eager (kernel default: whenever it has caught up), "+
		"level (every record while -wakeup-bytes wait, as kscope.h does) or batch (once per -wakeup-bytes produced)")
	wakeupBytes := fs.Uint64("wakeup-bytes", 1<<20, "threshold of -wakeup level and batch")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	prog, ok := hooks[*hook]
	if !ok {
		fmt.Fprintf(stderr, "minimal: -hook %q: want open or exec\n", *hook)
		return 2
	}
	mode, ok := modes[*wakeup]
	if !ok {
		fmt.Fprintf(stderr, "minimal: -wakeup %q: want eager, level or batch\n", *wakeup)
		return 2
	}
	if *wakeupBytes == 0 {
		fmt.Fprintln(stderr, "minimal: -wakeup-bytes must be positive")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	n, lost, err := trace(ctx, prog, mode, *wakeupBytes, func(took time.Duration) {
		fmt.Fprintf(stderr, "ready hook=%s wakeup=%s took=%s\n", *hook, *wakeup, took)
	})
	if err != nil {
		fmt.Fprintf(stderr, "minimal: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d records read, %d lost (buffer full)\n", n, lost)
	return 0
}

// trace loads prog alone, attaches it, calls ready, counts records until ctx
// is done and returns the records read and lost.
func trace(ctx context.Context, prog string, mode uint8, wakeupBytes uint64, ready func(time.Duration)) (n, lost uint64, err error) {
	start := time.Now()
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return 0, 0, fmt.Errorf("removing memlock limit: %w", err)
	}
	spec, err := loadMinimal()
	if err != nil {
		return 0, 0, fmt.Errorf("loading spec: %w", err)
	}
	// Load only the program under test: the others' hooks may not exist here.
	for name := range spec.Programs {
		if name != prog {
			delete(spec.Programs, name)
		}
	}
	for name, v := range map[string]any{"wakeup_mode": mode, "wakeup_bytes": wakeupBytes} {
		if err := spec.Variables[name].Set(v); err != nil {
			return 0, 0, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return 0, 0, fmt.Errorf("loading objects: %+v", ve)
		}
		return 0, 0, fmt.Errorf("loading objects: %w", err)
	}
	defer coll.Close()

	rd, err := ringbuf.NewReader(coll.Maps[minimalMapEvents])
	if err != nil {
		return 0, 0, fmt.Errorf("opening ring buffer: %w", err)
	}
	defer rd.Close()

	// Each program is named after its tracepoint.
	l, err := link.Tracepoint("syscalls", prog, coll.Programs[prog], nil)
	if err != nil {
		return 0, 0, fmt.Errorf("attaching %s: %w", prog, err)
	}
	ready(time.Since(start))

	// Count on this goroutine until Flush (after detach) or a read error.
	done := make(chan error, 1)
	go func() {
		var rec ringbuf.Record
		for {
			if mode != modes["eager"] { // wakeups are batched: poll too
				rd.SetDeadline(time.Now().Add(pollEvery))
			}
			err := rd.ReadInto(&rec)
			switch {
			case err == nil:
				n++
			case errors.Is(err, os.ErrDeadlineExceeded):
			case errors.Is(err, ringbuf.ErrFlushed):
				done <- nil
				return
			default:
				done <- err
				return
			}
		}
	}()

	<-ctx.Done()
	// Detach first so nothing new arrives, then read what is left.
	errDetach := l.Close()
	errFlush := rd.Flush()
	errRead := <-done
	if err := coll.Variables[minimalVarLost].Get(&lost); err != nil {
		return n, 0, fmt.Errorf("reading lost counter: %w", err)
	}
	return n, lost, errors.Join(errDetach, errFlush, errRead)
}
