package profile

import (
	"io"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// ReadPprof reads a pprof protobuf, gzipped or not.
func ReadPprof(r io.Reader) (*Profile, error) {
	pp, err := profile.Parse(r)
	if err != nil {
		return nil, err
	}
	return FromPprof(pp), nil
}

// FromPprof converts a pprof profile back: the inverse of ToPprof. The pid
// and comm of a sample come from its labels; frames whose mapping is a
// bracketed kernel name ("[kernel]", "[ext4]") are kernel frames.
func FromPprof(pp *profile.Profile) *Profile {
	p := &Profile{
		Period:   pp.Period,
		Start:    time.Unix(0, pp.TimeNanos),
		Duration: time.Duration(pp.DurationNanos),
	}
	for _, t := range pp.SampleType {
		p.Types = append(p.Types, ValueType{t.Type, t.Unit})
	}
	frames := map[uint64][]Frame{} // location id: frames, leaf first (inlined first)
	for _, loc := range pp.Location {
		module := ""
		if loc.Mapping != nil {
			module = loc.Mapping.File
		}
		kernel := isKernelModule(module)
		if len(loc.Line) == 0 {
			frames[loc.ID] = []Frame{{Module: module, Address: loc.Address, Offset: loc.Address, Kernel: kernel}}
			continue
		}
		for _, l := range loc.Line {
			f := Frame{Module: module, Address: loc.Address, Line: int(l.Line), Kernel: kernel}
			if l.Function != nil {
				f.Function, f.File = l.Function.Name, l.Function.Filename
			}
			frames[loc.ID] = append(frames[loc.ID], f)
		}
	}
	for _, s := range pp.Sample {
		out := Sample{Values: append([]int64(nil), s.Value...)}
		if v := s.NumLabel["pid"]; len(v) > 0 {
			out.PID = uint32(v[0])
		}
		if v := s.Label["comm"]; len(v) > 0 {
			out.Comm = v[0]
		}
		for _, loc := range s.Location {
			out.Stack = append(out.Stack, frames[loc.ID]...)
		}
		p.Samples = append(p.Samples, out)
	}
	return p
}

// isKernelModule tells the kernel's modules ("[kernel]", "[nf_tables]")
// from the bracketed pseudo-files of user mappings.
func isKernelModule(m string) bool {
	if !strings.HasPrefix(m, "[") {
		return false
	}
	switch m {
	case "[vdso]", "[vsyscall]", "[vvar]", "[stack]", "[heap]", "[uprobes]", "[unknown]":
		return false
	}
	return !strings.HasPrefix(m, "[anon")
}

// Filter keeps the samples keep selects.
func (p *Profile) Filter(keep func(*Sample) bool) {
	out := p.Samples[:0]
	for i := range p.Samples {
		if keep(&p.Samples[i]) {
			out = append(out, p.Samples[i])
		}
	}
	p.Samples = out
}

// Add merges q's samples into p. A sample type only one of them has is
// zero in the other's samples; the time covered grows to span both.
func (p *Profile) Add(q *Profile) {
	if len(p.Types) == 0 && len(p.Samples) == 0 {
		*p = Profile{Types: append([]ValueType(nil), q.Types...), Period: q.Period, Start: q.Start, Duration: q.Duration}
		p.Samples = append(p.Samples, q.Samples...)
		return
	}
	idx := make([]int, len(q.Types))
	for i, t := range q.Types {
		if idx[i] = p.index(t); idx[i] < 0 {
			idx[i] = len(p.Types)
			p.Types = append(p.Types, t)
			for j := range p.Samples {
				p.Samples[j].Values = append(p.Samples[j].Values, 0)
			}
		}
	}
	for _, s := range q.Samples {
		v := make([]int64, len(p.Types))
		for i, x := range s.Values {
			v[idx[i]] += x
		}
		s.Values = v
		p.Samples = append(p.Samples, s)
	}
	end := p.Start.Add(p.Duration)
	if e := q.Start.Add(q.Duration); e.After(end) {
		end = e
	}
	if q.Start.Before(p.Start) {
		p.Start = q.Start
	}
	p.Duration = end.Sub(p.Start)
	if p.Period == 0 {
		p.Period = q.Period
	}
}

// Index returns the position of sample type t, -1 when absent.
func (p *Profile) Index(t ValueType) int { return p.index(t) }
