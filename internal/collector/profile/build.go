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
		off := s.OnCPU == 0 && s.OffCPUNanos > 0
		for i, fr := range sym.Kernel(returnAddrs(s.Kernel)) {
			if len(stack) == 0 && (IsBPFFrame(fr.Function) || off && IsSwitchFrame(fr.Function)) {
				// The sampling program and the tracepoint that ran it
				// top off-CPU stacks, then the switch itself: the stack
				// starts at what called schedule().
				continue
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
// that ran it (bpf_prog_<tag>_<name>, bpf_trace_run4,
// __traceiter_sched_switch), which top the stacks taken from inside a
// tracepoint.
func IsBPFFrame(fn string) bool {
	return strings.HasPrefix(fn, "bpf_prog_") || strings.HasPrefix(fn, "bpf_trace_run") ||
		strings.HasPrefix(fn, "__bpf_trace_") || strings.HasPrefix(fn, "__traceiter_")
}

// IsSwitchFrame tells the scheduler's own frames under the sched_switch
// tracepoint, the same in every off-CPU stack: __schedule and schedule.
func IsSwitchFrame(fn string) bool {
	return fn == "__schedule" || fn == "schedule"
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
