package metrics

import "math"

// Log2 turns a kernel log2 histogram into a Prometheus one. slots[i] counts
// the values v with floor(log2(v)) == i (slot 0 also holds 0), so every
// value in slot i is below 2^(i+1). The buckets kept are slots lo..hi, each
// with the upper bound 2^(i+1)*scale (scale converts to base units, e.g.
// 1e-9 for nanoseconds to seconds); slots below lo count in the first
// bucket and slots above hi in +Inf. sum is the sum of the raw values.
func Log2(slots []uint64, sum uint64, scale float64, lo, hi int) HistogramValue {
	h := HistogramValue{
		Bounds: Log2Bounds(scale, lo, hi),
		Counts: make([]uint64, hi-lo+2),
		Sum:    float64(sum) * scale,
	}
	for i, c := range slots {
		switch {
		case i <= lo:
			h.Counts[0] += c
		case i > hi:
			h.Counts[hi-lo+1] += c
		default:
			h.Counts[i-lo] += c
		}
	}
	return h
}

// Log2Bounds returns the upper bounds Log2 uses for slots lo..hi.
func Log2Bounds(scale float64, lo, hi int) []float64 {
	b := make([]float64, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		b = append(b, math.Ldexp(1, i+1)*scale)
	}
	return b
}

// Common log2 bucket ranges.
const (
	// Nanosecond latencies from 1.024µs (slot 9) to 17.2s (slot 33).
	LatencyLo, LatencyHi = 9, 33
	// Byte sizes from 512 B (slot 8) to 64 MiB (slot 25).
	SizeLo, SizeHi = 8, 25
)
