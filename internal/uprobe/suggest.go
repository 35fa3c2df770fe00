package uprobe

import (
	"sort"
	"strings"
)

// suggest returns up to five names close to name: by edit distance (at most
// a third of the name's length, and at least 2), or containing it.
func (t *symtab) suggest(name string) []string {
	type cand struct {
		name string
		dist int
	}
	lname := strings.ToLower(name)
	limit := max(2, len(name)/3)
	best := map[string]int{}
	for i := range t.funcs {
		f := &t.funcs[i]
		for _, n := range []string{f.raw, f.short} {
			if n == "" {
				continue
			}
			d := -1
			if strings.Contains(strings.ToLower(n), lname) {
				d = len(n) - len(name) // shorter containing names first
				if d > limit {
					d = limit + d // after close edits, still listed
				}
			} else if abs(len(n)-len(name)) <= limit {
				if e := editDistance(name, n, limit); e <= limit {
					d = e
				}
			}
			if d < 0 {
				continue
			}
			if prev, ok := best[n]; !ok || d < prev {
				best[n] = d
			}
		}
	}
	cs := make([]cand, 0, len(best))
	for n, d := range best {
		cs = append(cs, cand{n, d})
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].dist != cs[j].dist {
			return cs[i].dist < cs[j].dist
		}
		return cs[i].name < cs[j].name
	})
	var out []string
	for _, c := range cs {
		if len(out) == 5 {
			break
		}
		out = append(out, c.name)
	}
	return out
}

// editDistance is the Levenshtein distance of a and b, or a number above
// limit as soon as it must exceed it.
func editDistance(a, b string, limit int) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
