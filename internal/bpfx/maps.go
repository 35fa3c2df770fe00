package bpfx

import (
	"errors"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// batchChunk is how many entries one batch lookup asks for.
const batchChunk = 256

// Dump reads every entry of a hash map, reusing keys' and vals' storage:
// batch lookups where the kernel has them (5.6+), iteration otherwise.
// Entries that change during the walk may be seen with either value.
func Dump[K, V any](m *ebpf.Map, keys []K, vals []V) ([]K, []V, error) {
	keys, vals = keys[:0], vals[:0]
	var cursor ebpf.MapBatchCursor
	chunk := batchChunk
	for {
		n := len(keys)
		keys = grow(keys, n+chunk)
		vals = grow(vals, n+chunk)
		got, err := m.BatchLookup(&cursor, keys[n:n+chunk], vals[n:n+chunk], nil)
		keys, vals = keys[:n+got], vals[:n+got]
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			return keys, vals, nil
		case errors.Is(err, ebpf.ErrNotSupported) && n == 0:
			return iterate(m, keys[:0], vals[:0])
		case err != nil && got == 0 && chunk < 1<<16 && errors.Is(err, unix.ENOSPC):
			// A hash bucket holds more entries than one chunk.
			chunk *= 2
		case err != nil:
			return keys, vals, err
		}
	}
}

func iterate[K, V any](m *ebpf.Map, keys []K, vals []V) ([]K, []V, error) {
	var (
		k K
		v V
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
		vals = append(vals, v)
	}
	return keys, vals, it.Err()
}

func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	out := make([]T, n, 2*n)
	copy(out, s)
	return out
}

// PerCPUSums reads a per-CPU array of u64 counters in one batch lookup and
// sums each slot over the CPUs. Its buffers are kept for the next call.
type PerCPUSums struct {
	ncpu int
	keys []uint32
	vals []uint64
}

// NewPerCPUSums returns a reader for arrays of n slots.
func NewPerCPUSums(n int) (*PerCPUSums, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	return &PerCPUSums{ncpu: ncpu, keys: make([]uint32, n), vals: make([]uint64, n*ncpu)}, nil
}

// Read sums each of the first len(out) slots of m into out.
func (p *PerCPUSums) Read(m *ebpf.Map, out []uint64) error {
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

// readEach is Read for kernels without batch operations (before 5.6).
func (p *PerCPUSums) readEach(m *ebpf.Map, out []uint64) error {
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

// KernelHasMember reports whether the running kernel's struct typ has the
// named member, as the CO-RE checks in a BPF program will see it.
func KernelHasMember(typ, member string) bool {
	kt, err := KernelTypes()
	if err != nil {
		return false
	}
	var s *btf.Struct
	if err := kt.TypeByName(typ, &s); err != nil {
		return false
	}
	for _, m := range s.Members {
		if m.Name == member {
			return true
		}
	}
	return false
}
