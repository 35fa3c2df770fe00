package metrics

import (
	"math"
	"sort"
	"strings"
	"time"
)

// Row is one key of a per-process or per-endpoint family, with its
// cumulative counters. Values must keep their order between calls; the
// first one is the key's activity, by which keys are ranked.
type Row struct {
	Key    string   // identity, stable over the key's life (e.g. "pid:start")
	Labels []string // label values to emit for the key
	Values []float64

	// Group, for the rows of a process, holds the label values of the
	// series its counts go to while it has no series of its own: its
	// command name with the pid empty (an absent label). Nil: such counts
	// go to "other".
	Group []string
	// Live says the row's process is alive now. With TopK.MinLive set, a
	// row gets a series of its own only once it was seen live at that many
	// Selects.
	Live bool
}

// TopK bounds a family to the K most active keys, at most K groups of the
// rest (the command names of processes) and one "other" row that holds
// everything else.
//
// Kept keys report their own cumulative values. A key not kept adds its
// increases to its group, which is reported as a row of its own when it is
// among the K most active groups that were active in two Selects at least
// two apart (a command that runs again and again, or whose process lived
// across an interval: not a stream of unique short-lived commands); every
// other increase goes to other. Groups and other only ever grow, so
// sum(rate(...)) over the family stays right as keys come, go and change
// rank. Keys rank by their recent rate (activity decays with a one-minute
// half-life, over the time the key was seen, decayed alike), so a burst does
// not keep a key forever and a newcomer ranks with old keys as busy as it
// is; a kept key or group only yields its place to one at least twice as
// active, so series do not flap.
//
// With MinLive set, a key must also have been seen live at MinLive Selects
// before it is kept: a process that lived less than a collection interval
// never gets a series of its own, however busy. Memory is bounded by the
// number of rows passed in, which the kernel map bounds, plus K groups.
type TopK struct {
	K        int
	HalfLife time.Duration // zero: one minute
	// MinLive is how many Selects must have seen a key live before it is
	// kept; 0 or 1: at once.
	MinLive int
	// GroupLinger is how long a kept group with no rows keeps its series
	// (zero: five minutes), so a command that runs now and then keeps one.
	GroupLinger time.Duration

	now    func() time.Time
	at     time.Time
	seq    int
	keys   map[string]*topKey
	groups map[string]*topGroup
	other  []float64
	rank   []ranked
	grank  []*topGroup
}

type ranked struct {
	row   int
	score float64
	delta []float64
}

type topKey struct {
	last, delta []float64
	score       float64
	window      float64 // seconds seen, decayed as score is
	seen, kept  bool
	live        int // Selects that saw the key live
}

type topGroup struct {
	labels      []string
	cum, delta  []float64
	score       float64
	kept        bool
	members     bool      // rows this Select
	idle        time.Time // when it last had rows
	first, last int       // the Selects of its first and last activity
}

// NewTopK returns a TopK keeping k keys.
func NewTopK(k int) *TopK {
	return &TopK{K: k, now: time.Now, keys: map[string]*topKey{}, groups: map[string]*topGroup{}}
}

// Select returns the rows to emit as they are (kept keys, then kept
// groups), and the other row's values (nil until something went to it).
func (t *TopK) Select(rows []Row) (kept []Row, other []float64) {
	now := t.now()
	half := t.HalfLife
	if half <= 0 {
		half = time.Minute
	}
	decay, dt := 1.0, 0.0
	if !t.at.IsZero() {
		decay = math.Exp2(-float64(now.Sub(t.at)) / float64(half))
		dt = now.Sub(t.at).Seconds()
	}
	t.at = now
	t.seq++
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
		if r.Live {
			k.live++
		}
		k.score = k.score*decay + delta[0]
		k.window = k.window*decay + dt
		if !k.kept && t.MinLive > 1 && k.live < t.MinLive {
			// Not settled: it cannot be kept yet.
			rank = append(rank, ranked{i, math.Inf(-1), delta})
			continue
		}
		// Keys rank by their recent rate: the decayed activity over the
		// decayed time they were seen, so a newcomer as busy as an old
		// key ranks with it. Kept keys hold their place until a newcomer
		// is twice as busy: fewer series come and go.
		eff := k.score
		if k.window > 0 {
			eff /= k.window
		}
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

	for _, g := range t.groups {
		g.members = false
		clear(g.delta)
	}
	n := 0
	for _, r := range rank {
		row := &rows[r.row]
		k := t.keys[row.Key]
		k.kept = n < t.K && !math.IsInf(r.score, -1)
		if k.kept {
			n++
			kept = append(kept, *row)
			continue
		}
		if row.Group == nil {
			t.addOther(r.delta)
			continue
		}
		g := t.group(row.Group, len(r.delta))
		g.members = true
		for j, d := range r.delta {
			g.delta[j] += d
		}
	}
	return t.selectGroups(now, decay, kept), t.other
}

// group returns the group with the given labels, made on first sight.
func (t *TopK) group(labels []string, n int) *topGroup {
	key := strings.Join(labels, "\xff")
	g, ok := t.groups[key]
	if !ok || len(g.cum) != n {
		g = &topGroup{labels: append([]string(nil), labels...), cum: make([]float64, n), delta: make([]float64, n), first: -1}
		t.groups[key] = g
	}
	return g
}

// selectGroups ranks the groups, appends the kept ones to kept and adds
// the increases of the others to other.
func (t *TopK) selectGroups(now time.Time, decay float64, kept []Row) []Row {
	linger := t.GroupLinger
	if linger <= 0 {
		linger = 5 * time.Minute
	}
	grank := t.grank[:0]
	for key, g := range t.groups {
		if g.members {
			g.idle = now
		} else if !g.kept || now.Sub(g.idle) > linger {
			delete(t.groups, key)
			continue
		}
		g.score = g.score*decay + g.delta[0]
		if anyPositive(g.delta) {
			if g.first < 0 {
				g.first = t.seq
			}
			g.last = t.seq
		}
		for j, d := range g.delta {
			g.cum[j] += d
		}
		grank = append(grank, g)
	}
	eff := func(g *topGroup) float64 {
		switch {
		case g.kept:
			return 2 * g.score
		case g.first < 0 || g.last-g.first < 2:
			return math.Inf(-1) // not active in two Selects apart
		}
		return g.score
	}
	sort.Slice(grank, func(a, b int) bool {
		ea, eb := eff(grank[a]), eff(grank[b])
		if ea != eb {
			return ea > eb
		}
		return lessValues(grank[a].labels, grank[b].labels)
	})
	t.grank = grank
	for i, g := range grank {
		g.kept = i < t.K && !math.IsInf(eff(g), -1)
		if g.kept {
			kept = append(kept, Row{Key: strings.Join(g.labels, "\xff"), Labels: g.labels, Values: g.cum})
			continue
		}
		if g.members {
			t.addOther(g.delta)
		}
	}
	return kept
}

func (t *TopK) addOther(delta []float64) {
	if len(t.other) < len(delta) {
		t.other = append(t.other, make([]float64, len(delta)-len(t.other))...)
	}
	for j, d := range delta {
		t.other[j] += d
	}
}

func anyPositive(v []float64) bool {
	for _, x := range v {
		if x > 0 {
			return true
		}
	}
	return false
}
