package api

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
)

// appendValue encodes a PromQL result as the Prometheus API does:
// {"resultType": ..., "result": ...}.
func appendValue(b []byte, v parser.Value) []byte {
	b = append(b, `{"resultType":`...)
	b = event.AppendString(b, string(v.Type()))
	b = append(b, `,"result":`...)
	switch v := v.(type) {
	case promql.Vector:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendLabels(b, s.Metric)
			if s.H != nil {
				b = append(b, `,"histogram":`...)
				b = appendHistogramPoint(b, s.T, s)
			} else {
				b = append(b, `,"value":`...)
				b = appendPoint(b, s.T, s.F)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	case promql.Matrix:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendLabels(b, s.Metric)
			if len(s.Floats) > 0 {
				b = append(b, `,"values":[`...)
				for j, p := range s.Floats {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendPoint(b, p.T, p.F)
				}
				b = append(b, ']')
			}
			if len(s.Histograms) > 0 {
				b = append(b, `,"histograms":`...)
				h, _ := json.Marshal(s.Histograms)
				b = append(b, h...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	case promql.Scalar:
		b = appendPoint(b, v.T, v.V)
	case promql.String:
		b = append(b, '[')
		b = appendTime(b, v.T)
		b = append(b, ',')
		b = event.AppendString(b, v.V)
		b = append(b, ']')
	default:
		b = append(b, "null"...)
	}
	return append(b, '}')
}

func appendHistogramPoint(b []byte, t int64, s promql.Sample) []byte {
	// Sample.MarshalJSON renders native histograms as Prometheus does.
	raw, _ := json.Marshal(s)
	var m struct {
		Histogram json.RawMessage `json:"histogram"`
	}
	json.Unmarshal(raw, &m)
	if m.Histogram == nil {
		return append(b, "null"...)
	}
	return append(b, m.Histogram...)
}

func appendTime(b []byte, t int64) []byte {
	return strconv.AppendFloat(b, float64(t)/1000, 'f', -1, 64)
}

func appendPoint(b []byte, t int64, v float64) []byte {
	b = append(b, '[')
	b = appendTime(b, t)
	b = append(b, ',', '"')
	b = appendValueFloat(b, v)
	return append(b, '"', ']')
}

// appendValueFloat formats a sample value as the Prometheus API does: no
// exponent, and +Inf, -Inf, NaN.
func appendValueFloat(b []byte, v float64) []byte {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return metrics.AppendFloat(b, v)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

func appendLabels(b []byte, ls labels.Labels) []byte {
	b = append(b, '{')
	first := true
	ls.Range(func(l labels.Label) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = event.AppendString(b, l.Name)
		b = append(b, ':')
		b = event.AppendString(b, l.Value)
	})
	return append(b, '}')
}
