package remotewrite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/kscope/kscope/internal/export"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/version"
)

// DefaultQueueBytes is each endpoint's queue budget on disk: a series
// takes about 50 bytes a collection there (snappy-compressed protobuf), so
// at kscope's default series cap (20000) and interval (10 s) it holds
// about 40 minutes of collections.
const DefaultQueueBytes = 256 << 20

// Options configure an Exporter.
type Options struct {
	// Config is the endpoint, as Prometheus's remote_write holds it.
	Config *promconfig.RemoteWriteConfig
	// ExternalLabels are added to every series that lacks them.
	ExternalLabels labels.Labels
	// DataDir is the agent's data directory: the queue is
	// DataDir/remote_write/<name>.
	DataDir string
	// QueueBytes bounds the queue (0: DefaultQueueBytes).
	QueueBytes int64
	Logger     *slog.Logger
}

// Exporter sends the agent's samples to one remote-write endpoint
// through a queue on disk.
type Exporter struct {
	opts   Options
	cfg    *promconfig.RemoteWriteConfig
	name   string
	dir    string
	logger *slog.Logger

	q      *queue
	client *http.Client

	encMu   sync.Mutex // one encoding at a time: the reused buffers
	lb      *labels.Builder
	pending []pendingSeries
	v1      prompb.WriteRequest
	v2      writev2.Request
	symbols writev2.SymbolsTable
	// v2 is on while remote-write 2.0 is configured (protobuf_message)
	// and the receiver has not refused it (415).
	useV2 atomic.Bool

	stopping atomic.Bool
	cancel   context.CancelFunc
	drain    chan struct{} // closed by Stop: send what is queued, then return
	exited   chan struct{} // closed when the sender returns

	sent     atomic.Uint64 // samples the endpoint accepted
	failed   atomic.Uint64 // requests that failed (retried or not)
	rejected atomic.Uint64 // samples the endpoint refused for good (4xx)
}

var _ export.Exporter = (*Exporter)(nil)

// New returns an exporter for one endpoint; Start opens its queue.
func New(o Options) (*Exporter, error) {
	if o.Config == nil || o.Config.URL == nil {
		return nil, fmt.Errorf("creating a remote-write exporter: no url")
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	name := QueueName(o.Config)
	x := &Exporter{
		opts:    o,
		cfg:     o.Config,
		name:    name,
		dir:     filepath.Join(o.DataDir, "remote_write", name),
		logger:  o.Logger.With("exporter", "remote_write/"+name),
		lb:      labels.NewBuilder(labels.EmptyLabels()),
		symbols: writev2.NewSymbolTable(),
	}
	x.useV2.Store(o.Config.ProtobufMessage == remoteapi.WriteV2MessageType)
	return x, nil
}

// pendingSeries is one series of the request being built.
type pendingSeries struct {
	lset labels.Labels
	v    float64
	desc *metrics.Desc
}

// QueueName names an endpoint's exporter and queue: its name, or the
// first 8 bytes of its URL's SHA-256 in hex, stable across restarts.
func QueueName(c *promconfig.RemoteWriteConfig) string {
	if c.Name != "" {
		return c.Name
	}
	h := sha256.Sum256([]byte(c.URL.String()))
	return hex.EncodeToString(h[:8])
}

// Name is remote_write/<queue name>.
func (x *Exporter) Name() string { return "remote_write/" + x.name }

// Dir is the queue's directory.
func (x *Exporter) Dir() string { return x.dir }

// Start opens the queue, with what a previous run left in it, and starts
// sending.
func (x *Exporter) Start(ctx context.Context) error {
	q, err := openQueue(x.dir, x.opts.QueueBytes)
	if err != nil {
		return fmt.Errorf("opening the remote-write queue %s: %w", x.dir, err)
	}
	client, err := config.NewClientFromConfig(x.cfg.HTTPClientConfig, "remote_write")
	if err != nil {
		return fmt.Errorf("configuring the remote-write client: %w", err)
	}
	x.q, x.client = q, client
	if n, bytes, reqs, _ := q.stats(); reqs > 0 {
		x.logger.Info("resuming the remote-write queue", "samples", n, "bytes", bytes, "requests", reqs)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	x.cancel = cancel
	x.drain = make(chan struct{})
	x.exited = make(chan struct{})
	go x.send(runCtx)
	return nil
}

// Stop sends what is queued until ctx is done; what is left stays on disk
// for the next start.
func (x *Exporter) Stop(ctx context.Context) error {
	if x.q == nil || !x.stopping.CompareAndSwap(false, true) {
		return nil
	}
	close(x.drain)
	select {
	case <-x.exited:
	case <-ctx.Done():
	}
	x.cancel()
	<-x.exited
	x.client.CloseIdleConnections()
	return nil
}

// ReportEvent: events are not sent by remote write.
func (x *Exporter) ReportEvent(export.Event) {}

// ReportProfile: profiles are not sent by remote write.
func (x *Exporter) ReportProfile(*profile.Profile) {}

// ReportMetrics encodes a collection into write requests of at most
// queue_config.max_samples_per_send samples and queues them.
func (x *Exporter) ReportMetrics(t time.Time, descs []*metrics.Desc, samples []metrics.Sample) {
	if x.q == nil || x.stopping.Load() {
		return
	}
	x.encMu.Lock()
	defer x.encMu.Unlock()
	ts := t.UnixMilli()
	per := x.cfg.QueueConfig.MaxSamplesPerSend
	if per <= 0 {
		per = promconfig.DefaultQueueConfig.MaxSamplesPerSend
	}
	x.pending = x.pending[:0]
	flush := func() {
		if len(x.pending) > 0 {
			x.push(ts)
			x.pending = x.pending[:0]
		}
	}
	add := func(s *metrics.Sample, name, le string, v float64) {
		if !x.series(s, name, le) {
			return
		}
		x.pending = append(x.pending, pendingSeries{lset: x.lb.Labels(), v: v, desc: s.Desc})
		if len(x.pending) >= per {
			flush()
		}
	}
	var le []byte
	for i := range samples {
		s := &samples[i]
		if s.Hist == nil {
			add(s, s.Desc.Name, "", s.Value)
			continue
		}
		var cum uint64
		for b, bound := range s.Hist.Bounds {
			cum += s.Hist.Counts[b]
			le = metrics.AppendFloat(le[:0], bound)
			add(s, s.Desc.Name+"_bucket", string(le), float64(cum))
		}
		cum += s.Hist.Counts[len(s.Hist.Bounds)]
		add(s, s.Desc.Name+"_bucket", "+Inf", float64(cum))
		add(s, s.Desc.Name+"_sum", "", s.Hist.Sum)
		add(s, s.Desc.Name+"_count", "", float64(cum))
	}
	flush()
}

// series sets x.lb to the labels of one series of s, with the external
// labels and write_relabel_configs applied; false: relabeling dropped it.
func (x *Exporter) series(s *metrics.Sample, name, le string) bool {
	x.lb.Reset(labels.EmptyLabels())
	x.lb.Set(model.MetricNameLabel, name)
	for i, l := range s.Desc.Labels {
		if s.Values[i] != "" { // empty is absent, as in Prometheus
			x.lb.Set(l, s.Values[i])
		}
	}
	if le != "" {
		x.lb.Set("le", le)
	}
	x.opts.ExternalLabels.Range(func(l labels.Label) {
		if x.lb.Get(l.Name) == "" {
			x.lb.Set(l.Name, l.Value)
		}
	})
	if len(x.cfg.WriteRelabelConfigs) > 0 && !relabel.ProcessBuilder(x.lb, x.cfg.WriteRelabelConfigs...) {
		return false
	}
	return x.lb.Get(model.MetricNameLabel) != ""
}

func metadata(d *metrics.Desc) prompb.MetricMetadata {
	t := prompb.MetricMetadata_UNKNOWN
	switch d.Type {
	case metrics.Counter:
		t = prompb.MetricMetadata_COUNTER
	case metrics.Gauge:
		t = prompb.MetricMetadata_GAUGE
	case metrics.Histogram:
		t = prompb.MetricMetadata_HISTOGRAM
	}
	return prompb.MetricMetadata{Type: t, MetricFamilyName: d.Name, Help: d.Help}
}

// push queues the pending series, encoded in the message the endpoint
// takes and snappy-compressed as remote write sends it.
func (x *Exporter) push(ts int64) {
	var data []byte
	var err error
	v2 := x.useV2.Load()
	if v2 {
		data, err = x.encodeV2(ts)
	} else {
		data, err = x.encodeV1(ts)
	}
	if err == nil {
		err = x.q.push(snappy.Encode(nil, data), len(x.pending), v2)
	}
	if err != nil {
		x.logger.Warn("remote-write samples dropped", "samples", len(x.pending), "err", err)
	}
}

// encodeV1 encodes the pending series as a remote-write 1.0
// prometheus.WriteRequest, with the metadata of their families.
func (x *Exporter) encodeV1(ts int64) ([]byte, error) {
	r := &x.v1
	r.Timeseries = r.Timeseries[:0]
	r.Metadata = r.Metadata[:0]
	seen := map[*metrics.Desc]bool{}
	for _, p := range x.pending {
		r.Timeseries = append(r.Timeseries, prompb.TimeSeries{
			Labels:  prompb.FromLabels(p.lset, nil),
			Samples: []prompb.Sample{{Value: p.v, Timestamp: ts}},
		})
		if !seen[p.desc] {
			seen[p.desc] = true
			r.Metadata = append(r.Metadata, metadata(p.desc))
		}
	}
	return r.Marshal()
}

// encodeV2 encodes the pending series as a remote-write 2.0
// io.prometheus.write.v2.Request, each with its family's metadata.
func (x *Exporter) encodeV2(ts int64) ([]byte, error) {
	x.symbols.Reset()
	r := &x.v2
	r.Timeseries = r.Timeseries[:0]
	for _, p := range x.pending {
		m := metadata(p.desc)
		r.Timeseries = append(r.Timeseries, writev2.TimeSeries{
			LabelsRefs: x.symbols.SymbolizeLabels(p.lset, nil),
			Samples:    []writev2.Sample{{Value: p.v, Timestamp: ts}},
			Metadata: writev2.Metadata{
				Type:    writev2.Metadata_MetricType(m.Type), // the same numbering
				HelpRef: x.symbols.Symbolize(m.Help),
			},
		})
	}
	r.Symbols = x.symbols.Symbols()
	return r.Marshal()
}

// v2ToV1 turns a queued 2.0 request (snappy-compressed) into a 1.0 one,
// for a receiver that refused 2.0.
func v2ToV1(data []byte) ([]byte, error) {
	raw, err := snappy.Decode(nil, data)
	if err != nil {
		return nil, err
	}
	var r2 writev2.Request
	if err := r2.Unmarshal(raw); err != nil {
		return nil, err
	}
	var r1 prompb.WriteRequest
	b := labels.NewScratchBuilder(0)
	for _, ts := range r2.Timeseries {
		lset, err := ts.ToLabels(&b, r2.Symbols)
		if err != nil {
			return nil, err
		}
		var samples []prompb.Sample
		for _, s := range ts.Samples {
			samples = append(samples, prompb.Sample{Value: s.Value, Timestamp: s.Timestamp})
		}
		r1.Timeseries = append(r1.Timeseries, prompb.TimeSeries{Labels: prompb.FromLabels(lset, nil), Samples: samples})
	}
	out, err := r1.Marshal()
	if err != nil {
		return nil, err
	}
	return snappy.Encode(nil, out), nil
}

// send posts the queued requests, oldest first, one at a time (the
// order the receiver needs), retrying with backoff; after Stop it returns
// once the queue is empty, or when ctx is canceled.
func (x *Exporter) send(ctx context.Context) {
	defer close(x.exited)
	qc := x.cfg.QueueConfig
	minBackoff, maxBackoff := time.Duration(qc.MinBackoff), time.Duration(qc.MaxBackoff)
	minBackoff = max(minBackoff, time.Millisecond)
	maxBackoff = max(maxBackoff, minBackoff)
	backoff := minBackoff
	for {
		e, data, ok := x.q.peek()
		if !ok {
			select {
			case <-x.drain:
				if _, _, reqs, _ := x.q.stats(); reqs == 0 {
					return
				}
			case <-x.q.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		retry, after, err := x.post(ctx, data, e.v2)
		if errors.Is(err, errNoV2) {
			// The receiver takes 1.0 only: this request and the next
			// ones go as 1.0.
			if x.useV2.CompareAndSwap(true, false) {
				x.logger.Warn("the receiver does not accept remote-write 2.0; sending 1.0", "err", err)
			}
			if data, err = v2ToV1(data); err == nil {
				retry, after, err = x.post(ctx, data, false)
			}
		}
		switch {
		case err == nil:
			x.q.done(e)
			x.sent.Add(uint64(e.samples))
			backoff = minBackoff
			continue
		case !retry:
			x.failed.Add(1)
			x.q.done(e)
			x.rejected.Add(uint64(e.samples))
			x.logger.Warn("remote-write request rejected; its samples are dropped", "samples", e.samples, "err", err)
			continue
		}
		x.q.release()
		if ctx.Err() != nil {
			return
		}
		x.failed.Add(1)
		wait := max(backoff, after)
		x.logger.Debug("remote-write request failed; retrying", "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// errNoV2 is a receiver's refusal of remote-write 2.0 (415).
var errNoV2 = errors.New("remote-write 2.0 refused")

// post sends one request. retry: the failure may pass (a network error, a
// 5xx, a 429 when retry_on_http_429); after: the receiver's Retry-After.
func (x *Exporter) post(ctx context.Context, data []byte, v2 bool) (retry bool, after time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(x.cfg.RemoteTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.cfg.URL.String(), bytes.NewReader(data))
	if err != nil {
		return false, 0, err
	}
	for k, v := range x.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Encoding", "snappy")
	if v2 {
		req.Header.Set("Content-Type", "application/x-protobuf;proto="+string(remoteapi.WriteV2MessageType))
		req.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
	} else {
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	}
	req.Header.Set("User-Agent", "kscope/"+version.Version)
	resp, err := x.client.Do(req)
	if err != nil {
		return true, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return false, 0, nil
	}
	err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
		after = time.Duration(min(s, math.MaxInt32)) * time.Second
	}
	switch {
	case v2 && resp.StatusCode == http.StatusUnsupportedMediaType:
		return false, 0, fmt.Errorf("%w: %w", errNoV2, err)
	case resp.StatusCode/100 == 5:
		return true, after, err
	case resp.StatusCode == http.StatusTooManyRequests && x.cfg.QueueConfig.RetryOnRateLimit:
		return true, after, err
	}
	return false, 0, err
}
