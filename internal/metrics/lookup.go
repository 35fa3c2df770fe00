package metrics

import "strings"

// Find returns the samples of the family name whose labels include every
// name=value pair of match ("k1", "v1", "k2", "v2", ...).
func (e *Emitter) Find(name string, match ...string) []Sample {
	var out []Sample
next:
	for _, s := range e.Samples {
		if s.Desc.Name != name {
			continue
		}
		for i := 0; i+1 < len(match); i += 2 {
			if s.Label(match[i]) != match[i+1] {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// Sum adds up the values (for histograms, the counts) of the samples Find
// returns, and reports whether there was any.
func (e *Emitter) Sum(name string, match ...string) (float64, bool) {
	ss := e.Find(name, match...)
	var v float64
	for _, s := range ss {
		if s.Hist != nil {
			v += float64(s.Hist.Count())
		} else {
			v += s.Value
		}
	}
	return v, len(ss) > 0
}

// Label returns the value of the named label, or "".
func (s Sample) Label(name string) string {
	for i, l := range s.Desc.Labels {
		if l == name {
			return s.Values[i]
		}
	}
	return ""
}

// LabelString turns a fixed-size kernel string (comm, device name) into a
// label value: cut at the first NUL, invalid UTF-8 replaced.
func LabelString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
