package profile

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/kscope/kscope/internal/event"
)

// WriteTreeJSON writes stacks as a flame graph tree in JSON: nested
// {"name", "value", "children"} objects from the root, "all", children
// sorted by name. With diff, every node also has "base", its value in
// base.
func WriteTreeJSON(w io.Writer, stacks, base []Folded, diff bool) error {
	bw := bufio.NewWriter(w)
	var buf []byte
	var walk func(n *node)
	walk = func(n *node) {
		buf = append(buf, `{"name":`...)
		buf = event.AppendString(buf, n.Name)
		buf = append(buf, `,"value":`...)
		buf = strconv.AppendInt(buf, n.Value, 10)
		if diff {
			buf = append(buf, `,"base":`...)
			buf = strconv.AppendInt(buf, n.Base, 10)
		}
		if len(n.Children) > 0 {
			buf = append(buf, `,"children":[`...)
			for i, c := range n.Children {
				if i > 0 {
					buf = append(buf, ',')
				}
				walk(c)
			}
			buf = append(buf, ']')
		}
		buf = append(buf, '}')
		if len(buf) > 32<<10 {
			bw.Write(buf)
			buf = buf[:0]
		}
	}
	walk(diffTree(stacks, base))
	bw.Write(buf)
	return bw.Flush()
}

// WriteDiffFolded writes the stacks of two profiles side by side, one
// "a;b;c base value" line per stack in either, as flamegraph.pl's
// difffolded.pl does.
func WriteDiffFolded(w io.Writer, stacks, base []Folded) error {
	type pair struct{ base, value int64 }
	sums := map[string]*pair{}
	get := func(f Folded) *pair {
		k := strings.Join(f.Frames, ";")
		p := sums[k]
		if p == nil {
			p = &pair{}
			sums[k] = p
		}
		return p
	}
	for _, f := range stacks {
		get(f).value += f.Value
	}
	for _, f := range base {
		get(f).base += f.Value
	}
	keys := make([]string, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bw := bufio.NewWriter(w)
	for _, k := range keys {
		p := sums[k]
		bw.WriteString(k)
		bw.WriteByte(' ')
		bw.WriteString(strconv.FormatInt(p.base, 10))
		bw.WriteByte(' ')
		bw.WriteString(strconv.FormatInt(p.value, 10))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
