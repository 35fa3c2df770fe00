package push

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/store"
)

func newReceiver(t testing.TB, l Limits) (*Receiver, *store.Metrics) {
	m, err := store.OpenMetrics(t.TempDir(), time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &Receiver{Appendable: func() storage.Appendable { return m.DB() }, Limits: l}, m
}

func post(t testing.TB, h http.Handler, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, WritePath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func encode(t testing.TB, ts ...prompb.TimeSeries) []byte {
	data, err := (&prompb.WriteRequest{Timeseries: ts}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, data)
}

func series(v float64, ts int64, kv ...string) prompb.TimeSeries {
	var ls []prompb.Label
	for i := 0; i < len(kv); i += 2 {
		ls = append(ls, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Value: v, Timestamp: ts}}}
}

// values reads every stored series matching name as "labels value".
func values(t *testing.T, m *store.Metrics, name string) []string {
	t.Helper()
	q, err := m.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", name))
	var out []string
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt == chunkenc.ValHistogram {
				_, h := it.AtHistogram(nil)
				out = append(out, ss.At().Labels().String()+" "+h.String())
				continue
			}
			_, v := it.At()
			out = append(out, ss.At().Labels().String()+" "+formatFloat(v))
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func formatFloat(v float64) string { return string(metrics.AppendFloat(nil, v)) }

// Encode's output, received, is stored as the samples were: counters,
// gauges and histograms (_bucket, _sum, _count) with the extra labels.
func TestEncodeReceive(t *testing.T) {
	r, m := newReceiver(t, Limits{})
	c := metrics.NewCounter("kscope_probe_s_calls_total", "", "key")
	h := metrics.NewHistogram("kscope_probe_s_lat", "")
	nh := metrics.NewHistogram("kscope_probe_s_exp", "")
	now := time.Now()
	body, err := Encode([]metrics.Sample{
		{Desc: c, Values: []string{"bash"}, Value: 7},
		{Desc: h, Hist: &metrics.HistogramValue{Bounds: []float64{1, 3}, Counts: []uint64{2, 0, 5}, Sum: 40}},
		// 0, 2, 3, 3, 100 and -1, in exponential buckets of schema 0.
		{Desc: nh, Hist: &metrics.HistogramValue{Bounds: []float64{1}, Counts: []uint64{2, 4}, Sum: 107, Native: &metrics.NativeHistogram{
			ZeroCount: 1, PositiveOffset: 1, Positive: []uint64{0, 3, 0, 0, 0, 0, 1}, Negative: []uint64{1}}}},
	}, now, "instance", "h1")
	if err != nil {
		t.Fatal(err)
	}
	if w := post(t, r, body); w.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	for name, want := range map[string][]string{
		"kscope_probe_s_calls_total": {`{__name__="kscope_probe_s_calls_total", instance="h1", key="bash"} 7`},
		"kscope_probe_s_lat_bucket": {`{__name__="kscope_probe_s_lat_bucket", instance="h1", le="+Inf"} 7`,
			`{__name__="kscope_probe_s_lat_bucket", instance="h1", le="1"} 2`,
			`{__name__="kscope_probe_s_lat_bucket", instance="h1", le="3"} 2`},
		"kscope_probe_s_lat_sum":    {`{__name__="kscope_probe_s_lat_sum", instance="h1"} 40`},
		"kscope_probe_s_lat_count":  {`{__name__="kscope_probe_s_lat_count", instance="h1"} 7`},
		"kscope_probe_s_exp":        {`{__name__="kscope_probe_s_exp", instance="h1"} {count:6, sum:107, [-1,-0.5):1, [-0,0]:1, (2,4]:3, (64,128]:1}`},
		"kscope_probe_s_exp_bucket": nil,
		"kscope_probe_s_exp_count":  nil,
	} {
		if got := values(t, m, name); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
	}
	if r.samples.Load() != 7 || r.reqs.Load() != 1 {
		t.Errorf("samples %d requests %d, want 7 and 1", r.samples.Load(), r.reqs.Load())
	}
}

// Every hostile request is refused whole with its status, counted under
// its reason, and stores nothing.
func TestReceiveRefuses(t *testing.T) {
	ts := time.Now().UnixMilli()
	ok := series(1, ts, "__name__", "kscope_probe_x")
	many := make([]prompb.TimeSeries, 4)
	for i := range many {
		many[i] = series(1, ts, "__name__", "kscope_probe_x", "k", string(rune('a'+i)))
	}
	huge := bytes.Repeat([]byte{0}, 5000)
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		reason string
		msg    string
	}{
		{"not snappy", []byte("\xff\xff\xff\xff\xff\xff"), 400, ReasonMalformed, "decoding the body"},
		{"not protobuf", snappy.Encode(nil, []byte("\xff\xff\xff")), 400, ReasonMalformed, "decoding the write request"},
		{"body too large", bytes.Repeat([]byte{1}, 3000), 413, ReasonBodyTooLarge, "over the limit of 2048"},
		{"decoded too large", snappy.Encode(nil, huge), 413, ReasonDecodedTooLarge, "decodes to 5000 bytes"},
		{"too many series", encode(t, many...), 413, ReasonTooManySeries, "4 series in one request, over the limit of 3"},
		{"other metric", encode(t, ok, series(1, ts, "__name__", "node_cpu_seconds_total")), 400, ReasonInvalid, `series 1: metric name "node_cpu_seconds_total"`},
		{"no name", encode(t, series(1, ts, "key", "v")), 400, ReasonInvalid, `metric name ""`},
		{"bad name", encode(t, series(1, ts, "__name__", "kscope_probe_a-b")), 400, ReasonInvalid, `metric name "kscope_probe_a-b"`},
		{"bad label name", encode(t, series(1, ts, "0x", "v", "__name__", "kscope_probe_x")), 400, ReasonInvalid, `label name "0x"`},
		{"reserved label", encode(t, series(1, ts, "__name__", "kscope_probe_x", "__tenant", "v")), 400, ReasonInvalid, `label name "__tenant" is not valid`},
		{"unsorted", encode(t, series(1, ts, "__name__", "kscope_probe_x", "b", "1", "a", "2")), 400, ReasonInvalid, "labels must be sorted"},
		{"duplicate", encode(t, series(1, ts, "__name__", "kscope_probe_x", "a", "1", "a", "2")), 400, ReasonInvalid, "labels must be sorted"},
		{"long value", encode(t, series(1, ts, "__name__", "kscope_probe_x", "a", strings.Repeat("v", 65))), 400, ReasonInvalid, "over the limit of 64 bytes"},
		{"not utf8", encode(t, series(1, ts, "__name__", "kscope_probe_x", "a", "\xff")), 400, ReasonInvalid, "not UTF-8"},
		{"too many labels", encode(t, series(1, ts, "__name__", "kscope_probe_x", "a", "1", "b", "1", "c", "1", "d", "1")), 400, ReasonInvalid, "5 labels, over the limit of 4"},
		{"no samples", encode(t, prompb.TimeSeries{Labels: ok.Labels}), 400, ReasonInvalid, "no samples"},
		{"float histogram", encode(t, prompb.TimeSeries{Labels: ok.Labels, Histograms: []prompb.Histogram{{Timestamp: ts, Count: &prompb.Histogram_CountFloat{CountFloat: 1}}}}), 400, ReasonInvalid, "native histogram 0: float histograms are not taken"},
		{"histogram schema", encode(t, prompb.TimeSeries{Labels: ok.Labels, Histograms: []prompb.Histogram{{Timestamp: ts, Schema: 9}}}), 400, ReasonInvalid, "schema 9: the agent takes exponential schemas -4 to 8"},
		{"histogram buckets", encode(t, prompb.TimeSeries{Labels: ok.Labels, Histograms: []prompb.Histogram{{Timestamp: ts, PositiveSpans: []prompb.BucketSpan{{Length: 5}}, PositiveDeltas: []int64{1, 0, 0, 0, 0}}}}), 400, ReasonInvalid, "6 buckets and spans, over the limit of 5"},
		{"histogram spans", encode(t, prompb.TimeSeries{Labels: ok.Labels, Histograms: []prompb.Histogram{{Timestamp: ts, Count: &prompb.Histogram_CountInt{CountInt: 1}, PositiveSpans: []prompb.BucketSpan{{Length: 2}}, PositiveDeltas: []int64{1}}}}), 400, ReasonInvalid, "native histogram 0: positive side: spans need 2 buckets, have 1 buckets"},
		{"histogram negative count", encode(t, prompb.TimeSeries{Labels: ok.Labels, Histograms: []prompb.Histogram{{Timestamp: ts, PositiveSpans: []prompb.BucketSpan{{Length: 2}}, PositiveDeltas: []int64{1, -2}}}}), 400, ReasonInvalid, "native histogram 0: positive side: bucket number 2 has observation count of -1"},
		{"samples and histogram", encode(t, prompb.TimeSeries{Labels: ok.Labels, Samples: ok.Samples, Histograms: []prompb.Histogram{{Timestamp: ts}}}), 400, ReasonInvalid, "both float samples and native histograms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, m := newReceiver(t, Limits{MaxBodyBytes: 2048, MaxDecodedBytes: 4096, MaxSeriesPerRequest: 3, MaxLabels: 4, MaxLabelBytes: 64, MaxHistogramBuckets: 5})
			w := post(t, r, tc.body)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.msg) {
				t.Fatalf("got %d %q, want %d containing %q", w.Code, w.Body, tc.status, tc.msg)
			}
			for _, why := range reasons {
				want := uint64(0)
				if why == tc.reason {
					want = 1
				}
				if got := r.Refused(why); got != want {
					t.Errorf("refused{%s} = %d, want %d", why, got, want)
				}
			}
			if got := values(t, m, "kscope_probe_x"); len(got) != 0 {
				t.Errorf("stored %q", got)
			}
		})
	}
}

// New series beyond the budget are refused and counted; the series
// already held keep taking samples.
func TestReceiveBudget(t *testing.T) {
	r, m := newReceiver(t, Limits{MaxSeries: 2})
	ts := time.Now().UnixMilli()
	s := func(k string, v float64, at int64) prompb.TimeSeries {
		return series(v, at, "__name__", "kscope_probe_b", "key", k)
	}
	if w := post(t, r, encode(t, s("a", 1, ts), s("b", 1, ts))); w.Code != 204 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	w := post(t, r, encode(t, s("a", 2, ts+1), s("c", 2, ts+1), s("d", 2, ts+1)))
	if want := "2 series refused: the agent holds 2 pushed series, its budget; 1 samples stored"; w.Code != 400 || !strings.Contains(w.Body.String(), want) {
		t.Fatalf("got %d %q, want 400 %q", w.Code, w.Body, want)
	}
	if got := r.Refused(ReasonBudget); got != 2 {
		t.Errorf("refused{series_budget} = %d, want 2", got)
	}
	want := `{__name__="kscope_probe_b", key="a"} 1` + "\n" + `{__name__="kscope_probe_b", key="a"} 2` + "\n" + `{__name__="kscope_probe_b", key="b"} 1`
	if got := strings.Join(values(t, m, "kscope_probe_b"), "\n"); got != want {
		t.Errorf("stored:\n%s\nwant:\n%s", got, want)
	}
	// An out-of-order sample is the store's refusal, counted.
	w = post(t, r, encode(t, s("a", 3, ts)))
	if w.Code != 400 || r.Refused(ReasonStore) != 1 {
		t.Errorf("out of order: got %d %q, refused{store} %d", w.Code, w.Body, r.Refused(ReasonStore))
	}
}

func FuzzReceive(f *testing.F) {
	ts := time.Now().UnixMilli()
	f.Add(encode(f, series(1, ts, "__name__", "kscope_probe_x", "key", "v")))
	f.Add(encode(f, series(1, ts, "__name__", "up")))
	f.Add(encode(f, prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "kscope_probe_h"}}, Histograms: []prompb.Histogram{{Timestamp: ts,
		Count: &prompb.Histogram_CountInt{CountInt: 3}, ZeroCount: &prompb.Histogram_ZeroCountInt{ZeroCountInt: 1},
		PositiveSpans: []prompb.BucketSpan{{Offset: 1, Length: 2}}, PositiveDeltas: []int64{1, 0}}}}))
	f.Add([]byte("\x00"))
	r, _ := newReceiver(f, Limits{MaxSeries: 50})
	f.Fuzz(func(t *testing.T, body []byte) {
		w := post(t, r, body)
		if w.Code != 204 && w.Code/100 != 4 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}
