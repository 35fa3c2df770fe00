package capture

import (
	"slices"
	"testing"
)

// TestMerger: records pushed per CPU, each CPU's nearly in order (one
// written late by an interrupt), come out in time order.
func TestMerger(t *testing.T) {
	var m merger
	rec := func(ts uint64) *pending { p := &pending{}; p.meta.TsNs = ts; return p }
	for _, in := range []struct {
		cpu int
		ts  uint64
	}{{0, 10}, {0, 30}, {2, 5}, {0, 20}, {2, 25}, {1, 1}, {0, 40}, {2, 35}} {
		m.push(in.cpu, rec(in.ts))
	}
	var got []uint64
	for m.n > 0 {
		got = append(got, m.pop(m.oldest()).meta.TsNs)
	}
	if want := []uint64{1, 5, 10, 20, 25, 30, 35, 40}; !slices.Equal(got, want) {
		t.Errorf("merged %v, want %v", got, want)
	}
	if m.oldest() != -1 {
		t.Errorf("an empty merger has an oldest queue")
	}
}
