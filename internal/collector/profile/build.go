package profile

import (
	"strings"
	"time"

	prof "github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/symbolize"
)

// Build symbolizes samples taken at hz into a profile: a sample count and
// CPU time per stack, and off-CPU time with offCPU. start and elapsed
// are the time the samples cover.
func Build(sym *symbolize.Symbolizer, samples []Sample, hz int, offCPU bool, start time.Time, elapsed time.Duration) *prof.Profile {
	period := int64(time.Second) / int64(hz)
	p := &prof.Profile{Types: []prof.ValueType{prof.Samples, prof.CPU}, Period: period, Start: start, Duration: elapsed}
	if offCPU {
		p.Types = append(p.Types, prof.OffCPU)
	}
	for _, s := range samples {
		var stack []prof.Frame
		for i, fr := range sym.Kernel(returnAddrs(s.Kernel)) {
			if len(stack) == 0 && IsBPFFrame(fr.Function) {
				continue // the sampling program itself, on top of off-CPU stacks
			}
			stack = append(stack, frame(fr, s.Kernel[i], true))
		}
		if len(s.User) > 0 {
			for i, fr := range sym.User(s.PID, returnAddrs(s.User)) {
				stack = append(stack, frame(fr, s.User[i], false))
			}
		}
		v := []int64{int64(s.OnCPU), int64(s.OnCPU) * period}
		if offCPU {
			v = append(v, int64(s.OffCPUNanos))
		}
		p.Samples = append(p.Samples, prof.Sample{PID: s.PID, Comm: s.Comm, Stack: stack, Values: v})
	}
	p.Merge()
	return p
}

// IsBPFFrame tells the frames of a BPF program and the tracepoint glue
// that ran it (bpf_prog_<tag>_<name>, bpf_trace_run4), which top the
// stacks taken from inside a tracepoint.
func IsBPFFrame(fn string) bool {
	return strings.HasPrefix(fn, "bpf_prog_") || strings.HasPrefix(fn, "bpf_trace_run") || strings.HasPrefix(fn, "__bpf_trace_")
}

// returnAddrs turns the return addresses of the callers (every frame but
// the leaf) into addresses inside the call, as pprof does, so a call at
// the end of a function is not put in the next one.
func returnAddrs(addrs []uint64) []uint64 {
	out := make([]uint64, len(addrs))
	for i, a := range addrs {
		if i > 0 && a > 0 {
			a--
		}
		out[i] = a
	}
	return out
}

func frame(f symbolize.Frame, addr uint64, kernel bool) prof.Frame {
	return prof.Frame{Function: f.Function, File: f.File, Line: f.Line, Module: f.Module, Address: addr, Offset: f.Offset, Kernel: kernel}
}
