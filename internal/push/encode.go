package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"

	"github.com/kscope/kscope/internal/metrics"
)

// Encode makes samples, taken at t, a snappy-compressed remote-write 1.0
// request, as the agent stores them: a histogram with exponential buckets
// (HistogramValue.Native) is one native histogram series, the others
// become their _bucket (le), _sum and _count series. extra labels (name,
// value pairs) are added to every series.
func Encode(samples []metrics.Sample, t time.Time, extra ...string) ([]byte, error) {
	if len(extra)%2 != 0 {
		return nil, errors.New("encoding the samples: extra labels come in name, value pairs")
	}
	ts := t.UnixMilli()
	var req prompb.WriteRequest
	add := func(name string, s *metrics.Sample, le string, v float64) *prompb.TimeSeries {
		ls := []prompb.Label{{Name: model.MetricNameLabel, Value: name}}
		for i, l := range s.Desc.Labels {
			if i < len(s.Values) && s.Values[i] != "" {
				ls = append(ls, prompb.Label{Name: l, Value: s.Values[i]})
			}
		}
		for i := 0; i < len(extra); i += 2 {
			ls = append(ls, prompb.Label{Name: extra[i], Value: extra[i+1]})
		}
		if le != "" {
			ls = append(ls, prompb.Label{Name: "le", Value: le})
		}
		sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Value: v, Timestamp: ts}}})
		return &req.Timeseries[len(req.Timeseries)-1]
	}
	var le []byte
	for i := range samples {
		s := &samples[i]
		switch {
		case s.Hist == nil:
			add(s.Desc.Name, s, "", s.Value)
			continue
		case s.Hist.Native != nil:
			series := add(s.Desc.Name, s, "", 0)
			series.Samples = nil
			series.Histograms = []prompb.Histogram{prompb.FromIntHistogram(ts, s.Hist.Native.Prometheus(s.Hist.Sum))}
			continue
		}
		var cum uint64
		for b, bound := range s.Hist.Bounds {
			cum += s.Hist.Counts[b]
			le = metrics.AppendFloat(le[:0], bound)
			add(s.Desc.Name+"_bucket", s, string(le), float64(cum))
		}
		cum += s.Hist.Counts[len(s.Hist.Bounds)]
		add(s.Desc.Name+"_bucket", s, "+Inf", float64(cum))
		add(s.Desc.Name+"_sum", s, "", s.Hist.Sum)
		add(s.Desc.Name+"_count", s, "", float64(cum))
	}
	data, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding the samples: %w", err)
	}
	return snappy.Encode(nil, data), nil
}

// Push posts body (Encode's) to url, an agent's base URL (user:password@
// in it is sent as basic auth) or its /api/v1/write endpoint.
func Push(ctx context.Context, client *http.Client, url string, body []byte) error {
	if !strings.HasSuffix(url, WritePath) {
		url = strings.TrimSuffix(url, "/") + WritePath
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("pushing to %s: %w", url, err)
	}
	if u := req.URL.User; u != nil {
		pw, _ := u.Password()
		req.SetBasicAuth(u.Username(), pw)
		req.URL.User = nil
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("pushing to %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("pushing to %s: the agent answered %s: %s", req.URL.Redacted(), resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
