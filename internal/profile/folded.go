package profile

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// KernelSuffix marks kernel frames in folded stacks, as flamegraph.pl's
// stackcollapse scripts do, so renderers can color them apart.
const KernelSuffix = "_[k]"

// Folded is one line of folded stacks: frames root first, and a value.
type Folded struct {
	Frames []string
	Value  int64
}

// Fold turns the samples' values of type t into folded stacks: the process
// name first, then the stack root first; kernel frames end in "_[k]".
// Stacks are sorted, zero values left out.
func (p *Profile) Fold(t ValueType) []Folded {
	i := p.index(t)
	if i < 0 {
		return nil
	}
	sums := map[string]int64{}
	for _, s := range p.Samples {
		if s.Values[i] == 0 {
			continue
		}
		frames := make([]string, 0, len(s.Stack)+1)
		frames = append(frames, clean(s.Comm))
		for j := len(s.Stack) - 1; j >= 0; j-- {
			name := clean(s.Stack[j].Name())
			if s.Stack[j].Kernel {
				name += KernelSuffix
			}
			frames = append(frames, name)
		}
		sums[strings.Join(frames, ";")] += s.Values[i]
	}
	out := make([]Folded, 0, len(sums))
	for k, v := range sums {
		out = append(out, Folded{strings.Split(k, ";"), v})
	}
	sort.Slice(out, func(a, b int) bool { return strings.Join(out[a].Frames, ";") < strings.Join(out[b].Frames, ";") })
	return out
}

// clean keeps a name on its line and out of the separators.
func clean(s string) string {
	if s == "" {
		return "[unknown]"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ';', '\n', '\r':
			return '_'
		}
		return r
	}, s)
}

// WriteFolded writes folded stacks, one "a;b;c value" line each.
func WriteFolded(w io.Writer, stacks []Folded) error {
	bw := bufio.NewWriter(w)
	for _, s := range stacks {
		bw.WriteString(strings.Join(s.Frames, ";"))
		bw.WriteByte(' ')
		bw.WriteString(strconv.FormatInt(s.Value, 10))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// ParseFolded reads folded stacks: "a;b;c value" per line, blank lines
// skipped. The value is the last space-separated field, so frames may
// hold spaces.
func ParseFolded(r io.Reader) ([]Folded, error) {
	var out []Folded
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			return nil, fmt.Errorf("line %d: want \"frame;frame value\"", n)
		}
		v, err := strconv.ParseInt(line[i+1:], 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("line %d: value %q is not a count", n, line[i+1:])
		}
		out = append(out, Folded{strings.Split(strings.TrimRight(line[:i], " "), ";"), v})
	}
	return out, sc.Err()
}
