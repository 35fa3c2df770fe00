package metrics

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ContentType is the exposition format WriteText writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteText writes families in the Prometheus text exposition format: HELP
// and TYPE for every described family, then its samples sorted by label
// values. Samples of undescribed families are skipped.
func WriteText(w io.Writer, descs []*Desc, samples []Sample) error {
	by := make(map[*Desc][]Sample, len(descs))
	for _, s := range samples {
		by[s.Desc] = append(by[s.Desc], s)
	}
	ds := append([]*Desc(nil), descs...)
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	bw := bufio.NewWriter(w)
	var buf []byte
	for i, d := range ds {
		if i > 0 && d.Name == ds[i-1].Name {
			continue // described twice
		}
		buf = buf[:0]
		buf = append(buf, "# HELP "...)
		buf = append(buf, d.Name...)
		buf = append(buf, ' ')
		buf = appendHelp(buf, d.Help)
		buf = append(buf, "\n# TYPE "...)
		buf = append(buf, d.Name...)
		buf = append(buf, ' ')
		buf = append(buf, d.Type.String()...)
		buf = append(buf, '\n')
		ss := by[d]
		sort.Slice(ss, func(i, j int) bool { return lessValues(ss[i].Values, ss[j].Values) })
		for _, s := range ss {
			if s.Hist == nil {
				buf = appendSeries(buf, d.Name, d.Labels, s.Values, "", 0, s.Value)
				continue
			}
			var cum uint64
			for b, le := range s.Hist.Bounds {
				cum += s.Hist.Counts[b]
				buf = appendSeries(buf, d.Name+"_bucket", d.Labels, s.Values, "le", le, float64(cum))
			}
			cum += s.Hist.Counts[len(s.Hist.Bounds)]
			buf = appendSeries(buf, d.Name+"_bucket", d.Labels, s.Values, "le", math.Inf(1), float64(cum))
			buf = appendSeries(buf, d.Name+"_sum", d.Labels, s.Values, "", 0, s.Hist.Sum)
			buf = appendSeries(buf, d.Name+"_count", d.Labels, s.Values, "", 0, float64(cum))
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func lessValues(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func appendSeries(buf []byte, name string, labels, values []string, extra string, le, v float64) []byte {
	buf = append(buf, name...)
	if len(labels) > 0 || extra != "" {
		buf = append(buf, '{')
		for i, l := range labels {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, l...)
			buf = append(buf, '=', '"')
			buf = appendLabelValue(buf, values[i])
			buf = append(buf, '"')
		}
		if extra != "" {
			if len(labels) > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, extra...)
			buf = append(buf, '=', '"')
			buf = AppendFloat(buf, le)
			buf = append(buf, '"')
		}
		buf = append(buf, '}')
	}
	buf = append(buf, ' ')
	buf = AppendFloat(buf, v)
	return append(buf, '\n')
}

// AppendFloat formats v as Prometheus does: shortest representation, and
// +Inf, -Inf, NaN.
func AppendFloat(buf []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(buf, "+Inf"...)
	case math.IsInf(v, -1):
		return append(buf, "-Inf"...)
	case math.IsNaN(v):
		return append(buf, "NaN"...)
	}
	return strconv.AppendFloat(buf, v, 'g', -1, 64)
}

func appendLabelValue(buf []byte, s string) []byte {
	if !strings.ContainsAny(s, "\\\"\n") {
		return append(buf, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			buf = append(buf, `\\`...)
		case '"':
			buf = append(buf, `\"`...)
		case '\n':
			buf = append(buf, `\n`...)
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

func appendHelp(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			buf = append(buf, `\\`...)
		case '\n':
			buf = append(buf, `\n`...)
		default:
			buf = append(buf, c)
		}
	}
	return buf
}
