package profile

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Frame is one symbolized stack frame.
type Frame struct {
	Function string // "" when unknown
	File     string
	Line     int
	Module   string // binary or library path, "[kernel]", a kernel module
	Address  uint64 // the address sampled
	Offset   uint64 // the address's offset in Module, when Function is unknown
	Kernel   bool
}

// Name is the frame's function, or Module+0xOffset when it has none: a
// frame never disappears for want of a symbol.
func (f Frame) Name() string {
	if f.Function != "" {
		return f.Function
	}
	mod := f.Module
	if mod == "" {
		mod = "[unknown]"
	} else if i := strings.LastIndexByte(mod, '/'); i >= 0 {
		mod = mod[i+1:]
	}
	return mod + "+0x" + strconv.FormatUint(f.Offset, 16)
}

// ValueType names one kind of value a sample carries, as pprof does.
type ValueType struct {
	Type, Unit string
}

// Common sample types.
var (
	Samples = ValueType{"samples", "count"}
	CPU     = ValueType{"cpu", "nanoseconds"}
	OffCPU  = ValueType{"off_cpu", "nanoseconds"}
)

// Sample is one stack, leaf first, with one value per profile sample type.
type Sample struct {
	PID    uint32
	Comm   string
	Stack  []Frame // leaf first: kernel frames, then user frames
	Values []int64
}

// Profile is a set of samples.
type Profile struct {
	Types    []ValueType
	Period   int64 // nanoseconds between on-CPU samples (1e9/hz), 0 if none
	Start    time.Time
	Duration time.Duration
	Samples  []Sample
}

// Merge adds up samples with the same process and stack.
func (p *Profile) Merge() {
	idx := map[string]int{}
	out := p.Samples[:0]
	for _, s := range p.Samples {
		k := key(s)
		if i, ok := idx[k]; ok {
			for j, v := range s.Values {
				out[i].Values[j] += v
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, s)
	}
	p.Samples = out
}

func key(s Sample) string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(uint64(s.PID), 10))
	b.WriteByte(0)
	b.WriteString(s.Comm)
	for _, f := range s.Stack {
		b.WriteByte(0)
		b.WriteString(f.Name())
		b.WriteByte(1)
		b.WriteString(f.Module)
	}
	return b.String()
}

// Total sums the value of type t over all samples.
func (p *Profile) Total(t ValueType) int64 {
	i := p.index(t)
	if i < 0 {
		return 0
	}
	var n int64
	for _, s := range p.Samples {
		n += s.Values[i]
	}
	return n
}

func (p *Profile) index(t ValueType) int {
	for i, vt := range p.Types {
		if vt == t {
			return i
		}
	}
	return -1
}

// Top returns the functions with the most self value of type t, as
// `pprof -top` ranks them, with their share of the total.
func (p *Profile) Top(t ValueType, n int) []FuncShare {
	i := p.index(t)
	if i < 0 {
		return nil
	}
	self := map[string]int64{}
	var total int64
	for _, s := range p.Samples {
		total += s.Values[i]
		if len(s.Stack) > 0 {
			self[s.Stack[0].Name()] += s.Values[i]
		}
	}
	out := make([]FuncShare, 0, len(self))
	for f, v := range self {
		out = append(out, FuncShare{f, v, float64(v) / float64(max(total, 1))})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Value != out[b].Value {
			return out[a].Value > out[b].Value
		}
		return out[a].Function < out[b].Function
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// FuncShare is a function's self value and its share of the total.
type FuncShare struct {
	Function string
	Value    int64
	Share    float64
}
