package run

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/kscope/kscope/internal/probe/check"
)

// MapData is one map's contents as user space prints them.
type MapData struct {
	Name  string // without '@'
	Kind  check.Kind
	Keyed bool
	// LHist bounds.
	Min, Max, Step int64
	// Bits is hist(v, k)'s k: 2^k buckets per power of 2.
	Bits int
	// Top keeps the Top largest entries, Div divides values (0: off), as
	// print(@map, top, div) asks.
	Top, Div int64
	Entries  []Entry
}

// Entry is one key's value.
type Entry struct {
	Keys []any // int64 or string per key element
	// Int is the value of an Int, Count, Sum, Min or Max map.
	Int int64
	Str string
	// Count and Total for avg and stats, and the count and sum of the
	// values of hist and lhist.
	Count, Total int64
	// Buckets for hist and lhist: index → count.
	Buckets map[int]uint64
	// Tuple is a tuple's elements: int64 or string each.
	Tuple []any
}

func (e *Entry) avg() int64 {
	if e.Count == 0 {
		return 0
	}
	return e.Total / e.Count
}

// sortEntries orders entries as bpftrace does: by key for hist, lhist and
// string maps, else by value (ascending), ties by key.
func (m *MapData) sortEntries() {
	defer func() {
		if m.Top > 0 && int64(len(m.Entries)) > m.Top {
			m.Entries = m.Entries[int64(len(m.Entries))-m.Top:]
		}
		if m.Div > 0 {
			for i := range m.Entries {
				m.Entries[i].Int /= m.Div
			}
			m.Div = 0
		}
	}()
	es := m.Entries
	sort.SliceStable(es, func(i, j int) bool { return keyLess(es[i].Keys, es[j].Keys) })
	switch m.Kind {
	case check.Hist, check.LHist, check.String, check.Tuple:
		return
	case check.Avg, check.Stats:
		sort.SliceStable(es, func(i, j int) bool { return es[i].avg() < es[j].avg() })
	default:
		sort.SliceStable(es, func(i, j int) bool { return es[i].Int < es[j].Int })
	}
}

func keyLess(a, b []any) bool {
	for i := range a {
		if i >= len(b) {
			return false
		}
		switch x := a[i].(type) {
		case int64:
			y, _ := b[i].(int64)
			if x != y {
				return x < y
			}
		case string:
			y, _ := b[i].(string)
			if x != y {
				return x < y
			}
		}
	}
	return len(a) < len(b)
}

func keyText(keys []any, sep string) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = fmt.Sprint(k)
	}
	return strings.Join(s, sep)
}

// WriteText prints a map as bpftrace's text output does.
func WriteText(w io.Writer, m *MapData) {
	m.sortEntries()
	var b bytes.Buffer
	name := "@" + m.Name
	if !m.Keyed && len(m.Entries) == 0 && m.Kind == check.Count {
		// bpftrace creates a map without keys at start: it prints 0.
		m.Entries = []Entry{{}}
	}
	if len(m.Entries) == 0 {
		// bpftrace prints an empty line for a map without elements.
		io.WriteString(w, "\n")
		return
	}
	for i := range m.Entries {
		e := &m.Entries[i]
		label := name
		if m.Keyed {
			label += "[" + keyText(e.Keys, ", ") + "]"
		}
		switch m.Kind {
		case check.Hist, check.LHist:
			fmt.Fprintf(&b, "%s: \n", label)
			m.writeHist(&b, e)
			b.WriteString("\n")
		case check.Stats:
			fmt.Fprintf(&b, "%s: count %d, average %d, total %d\n", label, e.Count, e.avg(), e.Total)
		case check.Avg:
			fmt.Fprintf(&b, "%s: %d\n", label, e.avg())
		case check.String:
			fmt.Fprintf(&b, "%s: %s\n", label, e.Str)
		case check.Tuple:
			fmt.Fprintf(&b, "%s: (%s)\n", label, keyText(e.Tuple, ", "))
		default:
			fmt.Fprintf(&b, "%s: %d\n", label, e.Int)
		}
	}
	switch m.Kind {
	case check.Avg, check.Stats:
		b.WriteString("\n")
	}
	w.Write(b.Bytes())
}

// bucket is one printed bucket of a histogram: [lo, hi), open below when
// under, open above when over.
type bucket struct {
	lo, hi      int64
	under, over bool
	count       uint64
	label       string // set when bpftrace's label is not [lo, hi)'s
}

// histBound returns the lower bound of hist(v, k) bucket index+1 (index
// counted as bpftrace's hist_index_label counts it) and its label: the
// power of 2 below it takes the suffix (K for 2^10…), the rest is a
// multiplier.
func histBound(index, k int) (int64, string) {
	n := 1 << k
	interval := index & (n - 1)
	power := (index >> k) - 1
	value := (int64(1) << power) * int64(n+interval)
	decade := power / 10
	label := strconv.FormatInt((int64(1)<<(power-10*decade))*int64(n+interval), 10)
	if decade > 0 {
		label += string("KMGTPE"[decade-1])
	}
	return value, label
}

// buckets returns the buckets from the first to the last non-empty one.
func (m *MapData) buckets(e *Entry) []bucket {
	first, last := -1, -1
	for i, c := range e.Buckets {
		if c == 0 {
			continue
		}
		if first < 0 || i < first {
			first = i
		}
		if i > last {
			last = i
		}
	}
	if first < 0 {
		return nil
	}
	var out []bucket
	for i := first; i <= last; i++ {
		bk := bucket{count: e.Buckets[i]}
		if m.Kind == check.Hist && m.Bits > 0 {
			switch {
			case i == 0:
				bk.under, bk.hi = true, 0
			case i <= 2<<m.Bits:
				bk.lo, bk.hi = int64(i-1), int64(i)
			default:
				lo, ll := histBound(i-1, m.Bits)
				hi, hl := histBound(i, m.Bits)
				bk.lo, bk.hi, bk.label = lo, hi, "["+ll+", "+hl+")"
			}
		} else if m.Kind == check.Hist {
			switch {
			case i == 0:
				bk.under, bk.hi = true, 0
			case i == 1:
				bk.lo, bk.hi = 0, 1
			default:
				bk.lo, bk.hi = int64(1)<<(i-2), int64(1)<<(i-1)
			}
		} else {
			n := int((m.Max - m.Min) / m.Step)
			switch {
			case i == 0:
				bk.under, bk.hi = true, m.Min
			case i == n+1:
				bk.over, bk.lo = true, m.Max
			default:
				bk.lo = m.Min + int64(i-1)*m.Step
				bk.hi = bk.lo + m.Step
			}
		}
		out = append(out, bk)
	}
	return out
}

// sizeLabel prints n with bpftrace's K, M, G… suffix when n is a
// multiple of a power of 1024.
func sizeLabel(n int64) string {
	suffixes := []string{"", "K", "M", "G", "T", "P", "E"}
	i := 0
	for n != 0 && n%1024 == 0 && i < len(suffixes)-1 {
		n /= 1024
		i++
	}
	return strconv.FormatInt(n, 10) + suffixes[i]
}

func (m *MapData) writeHist(b *bytes.Buffer, e *Entry) {
	bs := m.buckets(e)
	var top uint64
	for _, bk := range bs {
		top = max(top, bk.count)
	}
	for _, bk := range bs {
		var label string
		switch {
		case bk.label != "":
			label = bk.label
		case bk.under:
			label = "(..., " + sizeLabel(bk.hi) + ")"
		case bk.over:
			label = "[" + sizeLabel(bk.lo) + ", ...)"
		case bk.hi-bk.lo == 1 && m.Kind == check.Hist:
			label = "[" + sizeLabel(bk.lo) + "]"
		default:
			label = "[" + sizeLabel(bk.lo) + ", " + sizeLabel(bk.hi) + ")"
		}
		n := 0
		if top > 0 {
			n = int(bk.count * 52 / top)
		}
		fmt.Fprintf(b, "%-16s%8d |%s%s|\n", label, bk.count, strings.Repeat("@", n), strings.Repeat(" ", 52-n))
	}
}

// jsonString quotes s as bpftrace's JSON output does.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// WriteJSON prints a map as one line of bpftrace's JSON output.
func WriteJSON(w io.Writer, m *MapData) {
	m.sortEntries()
	if len(m.Entries) == 0 {
		if m.Keyed || m.Kind != check.Count {
			return // bpftrace prints nothing for a map without elements
		}
		m.Entries = []Entry{{}}
	}
	typ := "map"
	switch m.Kind {
	case check.Hist, check.LHist:
		typ = "hist"
	case check.Avg, check.Stats:
		typ = "stats"
	}
	value := func(e *Entry) string {
		switch m.Kind {
		case check.Hist, check.LHist:
			var parts []string
			for _, bk := range m.buckets(e) {
				switch {
				case bk.under:
					parts = append(parts, fmt.Sprintf(`{"max": %d, "count": %d}`, bk.hi-1, bk.count))
				case bk.over:
					parts = append(parts, fmt.Sprintf(`{"min": %d, "count": %d}`, bk.lo, bk.count))
				default:
					parts = append(parts, fmt.Sprintf(`{"min": %d, "max": %d, "count": %d}`, bk.lo, bk.hi-1, bk.count))
				}
			}
			return "[" + strings.Join(parts, ", ") + "]"
		case check.Stats:
			return fmt.Sprintf(`{"count": %d, "average": %d, "total": %d}`, e.Count, e.avg(), e.Total)
		case check.Avg:
			return strconv.FormatInt(e.avg(), 10)
		case check.String:
			return jsonString(e.Str)
		case check.Tuple:
			parts := make([]string, len(e.Tuple))
			for i, v := range e.Tuple {
				if s, ok := v.(string); ok {
					parts[i] = jsonString(s)
				} else {
					parts[i] = fmt.Sprint(v)
				}
			}
			return "[" + strings.Join(parts, ",") + "]"
		}
		return strconv.FormatInt(e.Int, 10)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"type": "%s", "data": {%s: `, typ, jsonString("@"+m.Name))
	if !m.Keyed {
		b.WriteString(value(&m.Entries[0]))
	} else {
		b.WriteString("{")
		for i := range m.Entries {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s: %s", jsonString(keyText(m.Entries[i].Keys, ",")), value(&m.Entries[i]))
		}
		b.WriteString("}")
	}
	b.WriteString("}}\n")
	w.Write(b.Bytes())
}
