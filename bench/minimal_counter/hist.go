package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

const histSlots = 64

// enterProgram keeps bpf_ktime_get_ns() in the current task's storage.
func enterProgram(starts *ebpf.Map) asm.Instructions {
	return asm.Instructions{
		asm.FnGetCurrentTaskBtf.Call(),
		asm.Mov.Reg(asm.R6, asm.R0),
		asm.FnKtimeGetNs.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		// r0 = bpf_task_storage_get(starts, task, NULL, F_CREATE)
		asm.LoadMapPtr(asm.R1, starts.FD()),
		asm.Mov.Reg(asm.R2, asm.R6),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 1), // BPF_LOCAL_STORAGE_GET_F_CREATE
		asm.FnTaskStorageGet.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.StoreMem(asm.R0, 0, asm.R7, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
}

// exitProgram adds now - start to hist[log2(now - start)].
func exitProgram(starts, hist *ebpf.Map) asm.Instructions {
	insns := asm.Instructions{
		asm.FnGetCurrentTaskBtf.Call(),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.LoadMapPtr(asm.R1, starts.FD()),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnTaskStorageGet.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R7, asm.R0, 0, asm.DWord),
		asm.JEq.Imm(asm.R7, 0, "out"),
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord), // no call in flight
		asm.FnKtimeGetNs.Call(),
		asm.Sub.Reg(asm.R0, asm.R7),
		// r2 = log2(r0), by halving steps
		asm.Mov.Imm(asm.R2, 0),
	}
	for i, sh := range []int32{32, 16, 8, 4, 2, 1} {
		skip := fmt.Sprintf("s%d", i)
		insns = append(insns,
			asm.Mov.Reg(asm.R3, asm.R0),
			asm.RSh.Imm(asm.R3, sh),
			asm.JEq.Imm(asm.R3, 0, skip),
			asm.Mov.Reg(asm.R0, asm.R3),
			asm.Add.Imm(asm.R2, sh),
			asm.Mov.Imm(asm.R3, 0).WithSymbol(skip),
		)
	}
	return append(insns,
		asm.StoreMem(asm.RFP, -4, asm.R2, asm.Word),
		asm.LoadMapPtr(asm.R1, hist.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
}

// histogram attaches the two programs, calls ready, waits for ctx and
// returns the calls timed.
func histogram(ctx context.Context, ready func(time.Duration)) (uint64, error) {
	start := time.Now()
	if err := rlimit.RemoveMemlock(); err != nil {
		return 0, fmt.Errorf("removing memlock limit: %w", err)
	}
	starts, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "starts", Type: ebpf.TaskStorage, KeySize: 4, ValueSize: 8, Flags: unix.BPF_F_NO_PREALLOC,
		Key:   &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
		Value: &btf.Int{Name: "u64", Size: 8},
	})
	if err != nil {
		return 0, fmt.Errorf("creating the task storage map: %w", err)
	}
	defer starts.Close()
	hist, err := ebpf.NewMap(&ebpf.MapSpec{Name: "hist", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: histSlots})
	if err != nil {
		return 0, fmt.Errorf("creating the histogram: %w", err)
	}
	defer hist.Close()
	var links []link.Link
	defer func() {
		for _, l := range links {
			l.Close()
		}
	}()
	for _, p := range []struct {
		name, tp string
		insns    asm.Instructions
	}{{"time_enter", "sys_enter", enterProgram(starts)}, {"time_exit", "sys_exit", exitProgram(starts, hist)}} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: p.name, Type: ebpf.RawTracepoint, License: "GPL", Instructions: p.insns})
		if err != nil {
			var ve *ebpf.VerifierError
			if errors.As(err, &ve) {
				return 0, fmt.Errorf("loading %s: %+v", p.name, ve)
			}
			return 0, fmt.Errorf("loading %s: %w", p.name, err)
		}
		defer prog.Close()
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: p.tp, Program: prog})
		if err != nil {
			return 0, fmt.Errorf("attaching %s: %w", p.tp, err)
		}
		links = append(links, l)
	}
	ready(time.Since(start))
	<-ctx.Done()
	for _, l := range links {
		l.Close()
	}
	links = nil
	var n uint64
	for slot := uint32(0); slot < histSlots; slot++ {
		var perCPU []uint64
		if err := hist.Lookup(slot, &perCPU); err != nil {
			return 0, fmt.Errorf("reading the histogram: %w", err)
		}
		for _, v := range perCPU {
			n += v
		}
	}
	return n, nil
}
