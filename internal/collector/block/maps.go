package block

import (
	"errors"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// batchChunk is how many entries one batch lookup asks for.
const batchChunk = 256

// dump reads every entry of a hash map, reusing keys' and vals' storage:
// batch lookups where the kernel has them (5.6+), iteration otherwise.
// Entries that change during the walk may be seen with either value.
func dump[K, V any](m *ebpf.Map, keys []K, vals []V) ([]K, []V, error) {
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
