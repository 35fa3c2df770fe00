package profile

import (
	"io"

	"github.com/google/pprof/profile"
)

// WritePprof writes p as a gzipped pprof protobuf: sample types, period,
// and locations, functions and mappings filled, so go tool pprof can list,
// graph and compare it. Each sample carries pid and comm labels.
func WritePprof(w io.Writer, p *Profile) error {
	return ToPprof(p).Write(w)
}

// ToPprof converts p to a pprof profile.
func ToPprof(p *Profile) *profile.Profile {
	out := &profile.Profile{
		TimeNanos:     p.Start.UnixNano(),
		DurationNanos: p.Duration.Nanoseconds(),
		Period:        p.Period,
	}
	for _, t := range p.Types {
		out.SampleType = append(out.SampleType, &profile.ValueType{Type: t.Type, Unit: t.Unit})
	}
	if p.Period > 0 {
		out.PeriodType = &profile.ValueType{Type: CPU.Type, Unit: CPU.Unit}
	}
	var (
		mappings = map[string]*profile.Mapping{}
		funcs    = map[[2]string]*profile.Function{}
		locs     = map[locKey]*profile.Location{}
	)
	mapping := func(f Frame) *profile.Mapping {
		name := f.Module
		if m, ok := mappings[name]; ok {
			return m
		}
		m := &profile.Mapping{ID: uint64(len(out.Mapping) + 1), File: name, HasFunctions: true}
		mappings[name] = m
		out.Mapping = append(out.Mapping, m)
		return m
	}
	function := func(f Frame) *profile.Function {
		k := [2]string{f.Name(), f.File}
		if fn, ok := funcs[k]; ok {
			return fn
		}
		fn := &profile.Function{ID: uint64(len(out.Function) + 1), Name: k[0], SystemName: k[0], Filename: f.File}
		funcs[k] = fn
		out.Function = append(out.Function, fn)
		return fn
	}
	for _, s := range p.Samples {
		ps := &profile.Sample{
			Value:    append([]int64(nil), s.Values...),
			Label:    map[string][]string{"comm": {s.Comm}},
			NumLabel: map[string][]int64{"pid": {int64(s.PID)}},
		}
		for _, f := range s.Stack {
			k := locKey{f.Module, f.Address, f.Name(), f.Line}
			loc, ok := locs[k]
			if !ok {
				loc = &profile.Location{
					ID:      uint64(len(out.Location) + 1),
					Mapping: mapping(f),
					Address: f.Address,
					Line:    []profile.Line{{Function: function(f), Line: int64(f.Line)}},
				}
				locs[k] = loc
				out.Location = append(out.Location, loc)
			}
			ps.Location = append(ps.Location, loc)
		}
		out.Sample = append(out.Sample, ps)
	}
	return out
}

type locKey struct {
	module string
	addr   uint64
	name   string
	line   int
}
