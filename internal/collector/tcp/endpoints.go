package tcp

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cilium/ebpf"

	"github.com/kscope/kscope/internal/metrics"
)

// Once the endpoints map is half full, Collect removes the kernel entries
// of endpoints idle for pruneIdle and then, longest idle first, those that
// did not move since the previous Collect, until the map is a quarter full:
// their counts have been reported, so the map cannot fill with endpoints
// that are done, and three quarters of it are free for the endpoints that
// come before the next Collect, even a late one. A removed endpoint's series ends; should it come
// back, it starts again from zero, which rate() reads as a counter reset.
const pruneIdle = 10 * time.Minute

// endpointTable turns the kernel's endpoints map into the per-endpoint
// families: the top-K endpoints by bytes moved (plus connections) and an
// "other" series holding the rest and the kernel's overflow entry.
type endpointTable struct {
	topK *metrics.TopK
	seen map[tcpEndpointKey]*endpointSeen
	rows []metrics.Row

	keys []tcpEndpointKey
	vals []tcpEndpointValue
	// Reused batch buffers.
	bk []tcpEndpointKey
	bv []tcpEndpointValue
}

type endpointSeen struct {
	key      string // keyString
	labels   [4]string
	values   [4]float64 // the row's: activity, connections, sent, received
	activity float64
	changed  time.Time
	present  bool
}

func newEndpointTable(k int) endpointTable {
	return endpointTable{
		topK: metrics.NewTopK(k),
		seen: map[tcpEndpointKey]*endpointSeen{},
		bk:   make([]tcpEndpointKey, 256),
		bv:   make([]tcpEndpointValue, 256),
	}
}

// collect reads every endpoint and emits the three families.
func (t *endpointTable) collect(m *ebpf.Map, e *metrics.Emitter, now time.Time) error {
	if err := t.read(m); err != nil {
		return fmt.Errorf("reading endpoints: %w", err)
	}
	for _, s := range t.seen {
		s.present = false
	}
	var overflow tcpEndpointValue
	t.rows = t.rows[:0]
	for i := range t.keys {
		k, v := &t.keys[i], &t.vals[i]
		if *k == (tcpEndpointKey{}) {
			overflow = *v
			continue
		}
		activity := float64(v.Sent) + float64(v.Received) + float64(v.Connections)
		s := t.seen[*k]
		if s == nil {
			s = &endpointSeen{key: keyString(k), labels: endpointLabels(k), activity: -1}
			t.seen[*k] = s
		}
		if s.activity != activity {
			s.activity, s.changed = activity, now
		}
		s.present = true
		s.values = [4]float64{activity, float64(v.Connections), float64(v.Sent), float64(v.Received)}
		t.rows = append(t.rows, metrics.Row{Key: s.key, Labels: s.labels[:], Values: s.values[:]})
	}
	for k, s := range t.seen {
		if !s.present {
			delete(t.seen, k)
		}
	}

	kept, other := t.topK.Select(t.rows)
	for _, r := range kept {
		e.Counter(descEndpointConns, r.Values[1], r.Labels...)
		e.Counter(descEndpointSent, r.Values[2], r.Labels...)
		e.Counter(descEndpointReceived, r.Values[3], r.Labels...)
	}
	if other != nil || overflow != (tcpEndpointValue{}) {
		var o [4]float64
		copy(o[:], other)
		e.Counter(descEndpointConns, o[1]+float64(overflow.Connections), "other", "other", "other", "other")
		e.Counter(descEndpointSent, o[2]+float64(overflow.Sent), "other", "other", "other", "other")
		e.Counter(descEndpointReceived, o[3]+float64(overflow.Received), "other", "other", "other", "other")
	}

	if capacity := int(m.MaxEntries()); len(t.keys) > capacity/2 {
		t.prune(m, now, len(t.keys)-capacity/4)
	}
	return nil
}

// prune removes the kernel entries of endpoints idle for pruneIdle, and
// more of those idle since before now, longest idle first, until want are
// gone. An update that lands between the read and the delete is lost.
func (t *endpointTable) prune(m *ebpf.Map, now time.Time, want int) {
	type idle struct {
		k tcpEndpointKey
		s *endpointSeen
	}
	var cands []idle
	for k, s := range t.seen {
		if s.changed.Before(now) {
			cands = append(cands, idle{k, s})
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].s.changed.Before(cands[j].s.changed) })
	for i, c := range cands {
		if i >= want && now.Sub(c.s.changed) < pruneIdle {
			break
		}
		if err := m.Delete(&c.k); err == nil || errors.Is(err, ebpf.ErrKeyNotExist) {
			delete(t.seen, c.k)
		}
	}
}

// read fills t.keys and t.vals with every entry: by batches where the
// kernel has them (Linux 5.6+), else one at a time.
func (t *endpointTable) read(m *ebpf.Map) error {
	t.keys, t.vals = t.keys[:0], t.vals[:0]
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, t.bk, t.bv, nil)
		t.keys = append(t.keys, t.bk[:n]...)
		t.vals = append(t.vals, t.bv[:n]...)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			break
		}
		if err != nil {
			return err
		}
	}
	t.keys, t.vals = t.keys[:0], t.vals[:0]
	var (
		k tcpEndpointKey
		v tcpEndpointValue
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		t.keys = append(t.keys, k)
		t.vals = append(t.vals, v)
	}
	return it.Err()
}
