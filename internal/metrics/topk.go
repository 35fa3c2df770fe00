package metrics

import (
	"math"
	"sort"
	"time"
)

// Row is one key of a per-process or per-endpoint family, with its
// cumulative counters. Values must keep their order between calls; the
// first one is the key's activity, by which keys are ranked.
type Row struct {
	Key    string   // identity, stable over the key's life (e.g. "pid:start")
	Labels []string // label values to emit for the key
	Values []float64
}

// TopK bounds a family to the K most active keys plus one "other" row that
// holds everything else. Kept keys report their own cumulative values;
// other accumulates the increases of the keys not kept, so it only ever
// grows and sum(rate(...)) over the family stays right as keys come, go
// and change rank. Activity decays with a one-minute half-life, so a burst
// does not keep a key forever, and a kept key only yields its place to one
// at least twice as active, so series do not flap. Memory is bounded by the number of rows
// passed in, which the kernel map bounds.
type TopK struct {
	K        int
	HalfLife time.Duration // zero: one minute

	now   func() time.Time
	at    time.Time
	keys  map[string]*topKey
	other []float64
	rank  []ranked
}

type ranked struct {
	row   int
	score float64
	delta []float64
}

type topKey struct {
	last, delta []float64
	score       float64
	seen, kept  bool
}

// NewTopK returns a TopK keeping k keys.
func NewTopK(k int) *TopK { return &TopK{K: k, now: time.Now, keys: map[string]*topKey{}} }

// Select returns the rows to emit as they are, and the other row's values
// (nil until some key has been left out).
func (t *TopK) Select(rows []Row) (kept []Row, other []float64) {
	now := t.now()
	half := t.HalfLife
	if half <= 0 {
		half = time.Minute
	}
	decay := 1.0
	if !t.at.IsZero() {
		decay = math.Exp2(-float64(now.Sub(t.at)) / float64(half))
	}
	t.at = now
	for _, k := range t.keys {
		k.seen = false
	}
	rank := t.rank[:0]
	for i, r := range rows {
		k, ok := t.keys[r.Key]
		if !ok || len(k.last) != len(r.Values) {
			k = &topKey{last: make([]float64, len(r.Values)), delta: make([]float64, len(r.Values))}
			t.keys[r.Key] = k
		}
		delta := k.delta
		for j, v := range r.Values {
			d := v - k.last[j]
			if d < 0 { // the key was reset (evicted and re-created)
				d = v
			}
			delta[j] = d
			k.last[j] = v
		}
		k.seen = true
		k.score = k.score*decay + delta[0]
		// Kept keys hold their place until a newcomer is twice as
		// busy: fewer series come and go.
		eff := k.score
		if k.kept {
			eff *= 2
		}
		rank = append(rank, ranked{i, eff, delta})
	}
	for key, k := range t.keys {
		if !k.seen {
			delete(t.keys, key)
		}
	}
	sort.Slice(rank, func(a, b int) bool {
		if rank[a].score != rank[b].score {
			return rank[a].score > rank[b].score
		}
		return rows[rank[a].row].Key < rows[rank[b].row].Key
	})
	t.rank = rank
	for i, r := range rank {
		k := t.keys[rows[r.row].Key]
		k.kept = i < t.K
		if k.kept {
			kept = append(kept, rows[r.row])
			continue
		}
		if len(t.other) < len(r.delta) {
			t.other = append(t.other, make([]float64, len(r.delta)-len(t.other))...)
		}
		for j, d := range r.delta {
			t.other[j] += d
		}
	}
	return kept, t.other
}
