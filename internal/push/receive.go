package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"

	"github.com/kscope/kscope/internal/metrics"
)

// WritePath is the receiver's endpoint on the agent.
const WritePath = "/api/v1/write"

// Prefix is the only metric name prefix the receiver takes.
const Prefix = "kscope_probe_"

// Limits bound what one client may make the receiver hold.
type Limits struct {
	MaxBodyBytes        int64 // compressed body (default 4 MiB)
	MaxDecodedBytes     int   // body after snappy (default 32 MiB)
	MaxSeriesPerRequest int   // time series in one request (default 10000)
	MaxSeries           int   // distinct series pushed and not yet forgotten (default 10000)
	MaxLabels           int   // labels of a series, __name__ included (default 32)
	MaxLabelBytes       int   // a label's name or value (default 1024)
	MaxHistogramBuckets int   // buckets and spans of a native histogram (default 512)
	// Forget is how long a pushed series counts in MaxSeries after its
	// last sample (default 1 h).
	Forget time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 4 << 20
	}
	if l.MaxDecodedBytes <= 0 {
		l.MaxDecodedBytes = 32 << 20
	}
	if l.MaxSeriesPerRequest <= 0 {
		l.MaxSeriesPerRequest = 10000
	}
	if l.MaxSeries <= 0 {
		l.MaxSeries = 10000
	}
	if l.MaxLabels <= 0 {
		l.MaxLabels = 32
	}
	if l.MaxLabelBytes <= 0 {
		l.MaxLabelBytes = 1024
	}
	if l.MaxHistogramBuckets <= 0 {
		l.MaxHistogramBuckets = 512
	}
	if l.Forget <= 0 {
		l.Forget = time.Hour
	}
	return l
}

// Refusal reasons, the reason label of kscope_self_push_refused_total.
const (
	ReasonBodyTooLarge    = "body_too_large"    // the request: compressed body over MaxBodyBytes
	ReasonDecodedTooLarge = "decoded_too_large" // the request: decoded body over MaxDecodedBytes
	ReasonMalformed       = "malformed"         // the request: not snappy, not a WriteRequest, a bad content type
	ReasonTooManySeries   = "too_many_series"   // the request: over MaxSeriesPerRequest
	ReasonInvalid         = "invalid"           // the request: a series with a bad name, labels or sample
	ReasonBudget          = "series_budget"     // series: new ones beyond MaxSeries
	ReasonStore           = "store"             // series: the store refused a sample (out of order, too old)
)

var reasons = []string{ReasonBodyTooLarge, ReasonDecodedTooLarge, ReasonMalformed, ReasonTooManySeries, ReasonInvalid, ReasonBudget, ReasonStore}

// Receiver is the agent's remote-write endpoint for pushed kscope_probe_*
// series. A request with anything invalid stores nothing and is answered
// 400 (413 when too large) naming the problem; new series beyond the
// budget are refused, the others stored, and the answer is 400 saying how
// many were refused. Every refusal is counted.
type Receiver struct {
	// Appendable returns the store to append to (it may change when the
	// store is reopened); nil while it is unavailable (503).
	Appendable func() storage.Appendable
	Limits     Limits

	once    sync.Once
	lim     Limits
	mu      sync.Mutex
	series  map[uint64]time.Time // pushed series by label hash: last sample
	swept   time.Time
	refused map[string]*atomic.Uint64
	reqs    atomic.Uint64
	samples atomic.Uint64

	descRequests, descSamples, descRefused, descSeries, descMax *metrics.Desc
}

func (r *Receiver) init() {
	r.once.Do(func() {
		r.lim = r.Limits.withDefaults()
		r.series = map[uint64]time.Time{}
		r.refused = map[string]*atomic.Uint64{}
		for _, why := range reasons {
			r.refused[why] = new(atomic.Uint64)
		}
		r.descRequests = metrics.NewCounter("kscope_self_push_requests_total", "Remote-write requests (kscope run --server) the agent stored, wholly or in part.")
		r.descSamples = metrics.NewCounter("kscope_self_push_samples_appended_total", "Pushed samples the agent stored.")
		r.descRefused = metrics.NewCounter("kscope_self_push_refused_total", "Pushed requests (body_too_large, decoded_too_large, malformed, too_many_series, invalid) or series (series_budget, store) the agent refused.", "reason")
		r.descSeries = metrics.NewGauge("kscope_self_push_series", "Distinct pushed series counted in the push series budget.")
		r.descMax = metrics.NewGauge("kscope_self_push_max_series", "The push series budget.")
	})
}

// Describe implements metrics.Source.
func (r *Receiver) Describe() []*metrics.Desc {
	r.init()
	return []*metrics.Desc{r.descRequests, r.descSamples, r.descRefused, r.descSeries, r.descMax}
}

// Collect implements metrics.Source.
func (r *Receiver) Collect(e *metrics.Emitter) error {
	r.init()
	e.Counter(r.descRequests, float64(r.reqs.Load()))
	e.Counter(r.descSamples, float64(r.samples.Load()))
	for _, why := range reasons {
		e.Counter(r.descRefused, float64(r.refused[why].Load()), why)
	}
	r.mu.Lock()
	n := len(r.series)
	r.mu.Unlock()
	e.Gauge(r.descSeries, float64(n))
	e.Gauge(r.descMax, float64(r.lim.MaxSeries))
	return nil
}

// Refused returns the refusals counted for reason.
func (r *Receiver) Refused(reason string) uint64 {
	r.init()
	if c := r.refused[reason]; c != nil {
		return c.Load()
	}
	return 0
}

// requestError is a refused request: its reason, HTTP status and message.
type requestError struct {
	reason string
	status int
	err    error
}

func (e *requestError) Error() string { return e.err.Error() }

func refuse(reason string, status int, format string, args ...any) *requestError {
	return &requestError{reason, status, fmt.Errorf(format, args...)}
}

// ServeHTTP implements http.Handler for POST /api/v1/write.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.init()
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "remote write takes POST", http.StatusMethodNotAllowed)
		return
	}
	wr, rerr := r.decode(w, req)
	if rerr == nil {
		rerr = r.validate(wr)
	}
	if rerr != nil {
		r.refused[rerr.reason].Add(1)
		http.Error(w, rerr.Error(), rerr.status)
		return
	}
	if err := r.store(req.Context(), wr); err != nil {
		http.Error(w, err.Error(), err.status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decode reads and decodes the body within the limits.
func (r *Receiver) decode(w http.ResponseWriter, req *http.Request) (*prompb.WriteRequest, *requestError) {
	if ct := req.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/x-protobuf") {
		return nil, refuse(ReasonMalformed, http.StatusUnsupportedMediaType, "content type %q: remote write takes application/x-protobuf", ct)
	}
	if ce := req.Header.Get("Content-Encoding"); ce != "" && ce != "snappy" {
		return nil, refuse(ReasonMalformed, http.StatusUnsupportedMediaType, "content encoding %q: remote write takes snappy", ce)
	}
	if req.ContentLength > r.lim.MaxBodyBytes {
		return nil, refuse(ReasonBodyTooLarge, http.StatusRequestEntityTooLarge, "the body is %d bytes, over the limit of %d", req.ContentLength, r.lim.MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.lim.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, refuse(ReasonBodyTooLarge, http.StatusRequestEntityTooLarge, "the body is over the limit of %d bytes", r.lim.MaxBodyBytes)
		}
		return nil, refuse(ReasonMalformed, http.StatusBadRequest, "reading the body: %v", err)
	}
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, refuse(ReasonMalformed, http.StatusBadRequest, "decoding the body: %v", err)
	}
	if n > r.lim.MaxDecodedBytes {
		return nil, refuse(ReasonDecodedTooLarge, http.StatusRequestEntityTooLarge, "the body decodes to %d bytes, over the limit of %d", n, r.lim.MaxDecodedBytes)
	}
	data, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, refuse(ReasonMalformed, http.StatusBadRequest, "decoding the body: %v", err)
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(data); err != nil {
		return nil, refuse(ReasonMalformed, http.StatusBadRequest, "decoding the write request: %v", err)
	}
	return &wr, nil
}

// validate checks every series: a kscope_probe_* name, valid and unique
// label names, bounded values, float samples or bounded integer native
// histograms.
func (r *Receiver) validate(wr *prompb.WriteRequest) *requestError {
	if n := len(wr.Timeseries); n > r.lim.MaxSeriesPerRequest {
		return refuse(ReasonTooManySeries, http.StatusRequestEntityTooLarge, "%d series in one request, over the limit of %d", n, r.lim.MaxSeriesPerRequest)
	}
	for i := range wr.Timeseries {
		if err := r.validSeries(&wr.Timeseries[i]); err != nil {
			return refuse(ReasonInvalid, http.StatusBadRequest, "series %d: %v", i, err)
		}
	}
	return nil
}

func (r *Receiver) validSeries(ts *prompb.TimeSeries) error {
	switch {
	case len(ts.Histograms) > 0 && len(ts.Samples) > 0:
		return errors.New("both float samples and native histograms: a series holds one or the other")
	case len(ts.Histograms) > 0:
		for i := range ts.Histograms {
			if err := r.validHistogram(&ts.Histograms[i]); err != nil {
				return fmt.Errorf("native histogram %d: %w", i, err)
			}
		}
	case len(ts.Samples) == 0:
		return errors.New("no samples")
	}
	if len(ts.Labels) > r.lim.MaxLabels {
		return fmt.Errorf("%d labels, over the limit of %d", len(ts.Labels), r.lim.MaxLabels)
	}
	name := ""
	for i, l := range ts.Labels {
		if len(l.Name) > r.lim.MaxLabelBytes || len(l.Value) > r.lim.MaxLabelBytes {
			return fmt.Errorf("label %d: over the limit of %d bytes", i, r.lim.MaxLabelBytes)
		}
		if i > 0 && ts.Labels[i-1].Name >= l.Name {
			return fmt.Errorf("label %q: labels must be sorted by name, each once", l.Name)
		}
		if l.Name == model.MetricNameLabel {
			name = l.Value
			continue
		}
		if !validLabelName(l.Name) || strings.HasPrefix(l.Name, "__") {
			return fmt.Errorf("label name %q is not valid: letters, digits and '_', not starting with a digit or __", l.Name)
		}
		if l.Value == "" {
			return fmt.Errorf("label %q: empty value", l.Name)
		}
		if !utf8.ValidString(l.Value) {
			return fmt.Errorf("label %q: the value is not UTF-8", l.Name)
		}
	}
	if !strings.HasPrefix(name, Prefix) || !validLabelName(name) {
		return fmt.Errorf("metric name %q: the agent takes only %s* series (letters, digits and '_')", name, Prefix)
	}
	return nil
}

// validHistogram takes integer native histograms with exponential
// buckets (schemas -4 to 8), at most MaxHistogramBuckets buckets and spans,
// consistent counts.
func (r *Receiver) validHistogram(h *prompb.Histogram) error {
	if h.IsFloatHistogram() {
		return errors.New("float histograms are not taken: send integer counts")
	}
	if h.Schema < histogram.ExponentialSchemaMin || h.Schema > histogram.ExponentialSchemaMax {
		return fmt.Errorf("schema %d: the agent takes exponential schemas %d to %d", h.Schema, histogram.ExponentialSchemaMin, histogram.ExponentialSchemaMax)
	}
	if n := len(h.PositiveDeltas) + len(h.NegativeDeltas) + len(h.PositiveSpans) + len(h.NegativeSpans); n > r.lim.MaxHistogramBuckets {
		return fmt.Errorf("%d buckets and spans, over the limit of %d", n, r.lim.MaxHistogramBuckets)
	}
	if err := h.ToIntHistogram().Validate(); err != nil {
		return err
	}
	return nil
}

// validLabelName: [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// store appends the samples of the series within the budget.
func (r *Receiver) store(ctx context.Context, wr *prompb.WriteRequest) *requestError {
	now := time.Now()
	lsets := make([]labels.Labels, len(wr.Timeseries))
	keep := make([]bool, len(wr.Timeseries))
	overBudget := 0
	r.mu.Lock()
	if now.Sub(r.swept) > time.Minute {
		for h, last := range r.series {
			if now.Sub(last) > r.lim.Forget {
				delete(r.series, h)
			}
		}
		r.swept = now
	}
	for i := range wr.Timeseries {
		b := labels.NewScratchBuilder(len(wr.Timeseries[i].Labels))
		for _, l := range wr.Timeseries[i].Labels {
			b.Add(l.Name, l.Value)
		}
		lsets[i] = b.Labels()
		h := lsets[i].Hash()
		if _, ok := r.series[h]; !ok && len(r.series) >= r.lim.MaxSeries {
			overBudget++
			continue
		}
		r.series[h] = now
		keep[i] = true
	}
	r.mu.Unlock()
	if overBudget > 0 {
		r.refused[ReasonBudget].Add(uint64(overBudget))
	}
	st := r.Appendable()
	if st == nil {
		return &requestError{ReasonStore, http.StatusServiceUnavailable, errors.New("the metrics store is being reopened after a failed write: retry")}
	}
	app := st.Appender(ctx)
	var (
		appended, rejected int
		firstErr           error
	)
	for i := range wr.Timeseries {
		if !keep[i] {
			continue
		}
		var ref storage.SeriesRef
		for _, h := range wr.Timeseries[i].Histograms {
			var err error
			if ref, err = app.AppendHistogram(ref, lsets[i], h.Timestamp, h.ToIntHistogram(), nil); err != nil {
				rejected++
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", lsets[i], err)
				}
				continue
			}
			appended++
		}
		for _, s := range wr.Timeseries[i].Samples {
			v := s.Value
			if math.IsNaN(v) {
				v = math.Float64frombits(0x7ff8000000000001) // a plain NaN, never the staleness marker
			}
			var err error
			if ref, err = app.Append(ref, lsets[i], s.Timestamp, v); err != nil {
				rejected++
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", lsets[i], err)
				}
				continue
			}
			appended++
		}
	}
	if err := app.Commit(); err != nil {
		return &requestError{ReasonStore, http.StatusInternalServerError, fmt.Errorf("committing the samples: %w", err)}
	}
	r.reqs.Add(1)
	r.samples.Add(uint64(appended))
	if rejected > 0 {
		r.refused[ReasonStore].Add(uint64(rejected))
	}
	switch {
	case overBudget > 0:
		return refuse(ReasonBudget, http.StatusBadRequest, "%d series refused: the agent holds %d pushed series, its budget; %d samples stored", overBudget, r.lim.MaxSeries, appended)
	case rejected > 0:
		return refuse(ReasonStore, http.StatusBadRequest, "%d samples refused by the store (first: %v); %d stored", rejected, firstErr, appended)
	}
	return nil
}
