package signals

import (
	"errors"

	"github.com/cilium/ebpf"
)

// perCPUSums reads a per-CPU array of u64 counters in one batch lookup and
// sums each slot over the CPUs into out (len(out) slots). The buffers are
// kept for the next call.
type perCPUSums struct {
	ncpu int
	keys []uint32
	vals []uint64
}

func newPerCPUSums(n int) (*perCPUSums, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	return &perCPUSums{ncpu: ncpu, keys: make([]uint32, n), vals: make([]uint64, n*ncpu)}, nil
}

func (p *perCPUSums) read(m *ebpf.Map, out []uint64) error {
	var cursor ebpf.MapBatchCursor
	n, err := m.BatchLookup(&cursor, p.keys, p.vals, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return err
		}
		return p.readEach(m, out)
	}
	clear(out)
	for i := range n {
		if k := int(p.keys[i]); k < len(out) {
			var s uint64
			for _, v := range p.vals[i*p.ncpu : (i+1)*p.ncpu] {
				s += v
			}
			out[k] = s
		}
	}
	return nil
}

// readEach is read for kernels without batch operations (before 5.6).
func (p *perCPUSums) readEach(m *ebpf.Map, out []uint64) error {
	vals := p.vals[:p.ncpu]
	for k := range out {
		if err := m.Lookup(uint32(k), &vals); err != nil {
			return err
		}
		var s uint64
		for _, v := range vals {
			s += v
		}
		out[k] = s
	}
	return nil
}
