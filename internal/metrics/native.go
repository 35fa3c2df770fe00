package metrics

import "github.com/prometheus/prometheus/model/histogram"

// NativeHistogram is a histogram's observations in exponential buckets, as
// a Prometheus native histogram holds them: with schema s, positive
// bucket i holds the values in (2^((i-1)/2^s), 2^(i/2^s)] and negative
// bucket i the values in [-2^(i/2^s), -2^((i-1)/2^s)); the zero bucket
// holds the values equal to 0 (a zero threshold of 0).
type NativeHistogram struct {
	Schema    int32
	ZeroCount uint64
	// Positive[j] counts bucket PositiveOffset+j.
	PositiveOffset int32
	Positive       []uint64
	// Negative[j] counts negative bucket NegativeOffset+j.
	NegativeOffset int32
	Negative       []uint64
}

// Count is the number of observations.
func (n *NativeHistogram) Count() uint64 {
	c := n.ZeroCount
	for _, v := range n.Positive {
		c += v
	}
	for _, v := range n.Negative {
		c += v
	}
	return c
}

// Prometheus returns n, with the sum of its observations, as the TSDB's
// integer histogram: empty buckets left out, the others in spans.
func (n *NativeHistogram) Prometheus(sum float64) *histogram.Histogram {
	h := &histogram.Histogram{Schema: n.Schema, ZeroCount: n.ZeroCount, Count: n.Count(), Sum: sum}
	h.PositiveSpans, h.PositiveBuckets = spans(n.PositiveOffset, n.Positive)
	h.NegativeSpans, h.NegativeBuckets = spans(n.NegativeOffset, n.Negative)
	return h
}

// spans encodes counts of buckets offset… as spans of non-empty buckets
// and each bucket's difference from the one before.
func spans(offset int32, counts []uint64) ([]histogram.Span, []int64) {
	var (
		sp     []histogram.Span
		deltas []int64
		prev   int64
		last   int32
	)
	for j, c := range counts {
		if c == 0 {
			continue
		}
		idx := offset + int32(j)
		switch {
		case len(sp) == 0:
			sp = append(sp, histogram.Span{Offset: idx, Length: 1})
		case idx == last+1:
			sp[len(sp)-1].Length++
		default:
			sp = append(sp, histogram.Span{Offset: idx - last - 1, Length: 1})
		}
		last = idx
		deltas = append(deltas, int64(c)-prev)
		prev = int64(c)
	}
	return sp, deltas
}
