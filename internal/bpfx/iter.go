package bpfx

import (
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	efeatures "github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
)

// RunIter runs a task iterator program once over every task, discarding
// what it writes: the collectors use one to give the tasks that exist at
// Start the state that hooks give new ones.
func RunIter(prog *ebpf.Program) error {
	it, err := link.AttachIter(link.IterOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("attaching the task iterator: %w", err)
	}
	defer it.Close()
	rd, err := it.Open()
	if err != nil {
		return fmt.Errorf("opening the task iterator: %w", err)
	}
	_, err = io.Copy(io.Discard, rd)
	if cerr := rd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("running the task iterator: %w", err)
	}
	return nil
}

// TaskStorage returns why the kernel has no task local storage maps (Linux
// 5.11), or nil.
func TaskStorage() error {
	if err := efeatures.HaveMapType(ebpf.TaskStorage); err != nil {
		return fmt.Errorf("task storage maps: %w", err)
	}
	return nil
}
