package probes

import (
	"slices"
	"testing"
)

// The buckets' upper bounds follow bpftrace's numbering of hist() and
// lhist() buckets, [lo, hi) as le hi-1.
func TestBounds(t *testing.T) {
	h := histBounds(0)
	if len(h) != 64 || !slices.Equal(h[:6], []float64{-1, 0, 1, 3, 7, 15}) || h[63] != float64(int64(1)<<62-1) {
		t.Errorf("hist bounds %v", h)
	}
	// hist(v, 1): two buckets per power of 2 after [0,1)…[3,4).
	if h := histBounds(1); !slices.Equal(h[:8], []float64{-1, 0, 1, 2, 3, 5, 7, 11}) {
		t.Errorf("hist(v, 1) bounds %v", h[:8])
	}
	if l := lhistBounds(0, 100, 25); !slices.Equal(l, []float64{-1, 24, 49, 74, 99}) {
		t.Errorf("lhist bounds %v", l)
	}
}
