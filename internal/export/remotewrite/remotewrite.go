package remotewrite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/prompb"

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

	encMu sync.Mutex // one encoding at a time: the reused buffers
	lb    *labels.Builder
	req   prompb.WriteRequest

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
	return &Exporter{
		opts:   o,
		cfg:    o.Config,
		name:   name,
		dir:    filepath.Join(o.DataDir, "remote_write", name),
		logger: o.Logger.With("exporter", "remote_write/"+name),
		lb:     labels.NewBuilder(labels.EmptyLabels()),
	}, nil
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
	x.req.Timeseries = x.req.Timeseries[:0]
	x.req.Metadata = x.req.Metadata[:0]
	families := map[*metrics.Desc]bool{}
	flush := func() {
		if len(x.req.Timeseries) == 0 {
			return
		}
		x.push()
		x.req.Timeseries = x.req.Timeseries[:0]
		x.req.Metadata = x.req.Metadata[:0]
		clear(families)
	}
	add := func(s *metrics.Sample, name, le string, v float64) {
		if !x.series(s, name, le) {
			return
		}
		x.req.Timeseries = append(x.req.Timeseries, prompb.TimeSeries{
			Labels:  prompb.FromLabels(x.lb.Labels(), nil),
			Samples: []prompb.Sample{{Value: v, Timestamp: ts}},
		})
		if !families[s.Desc] {
			families[s.Desc] = true
			x.req.Metadata = append(x.req.Metadata, metadata(s.Desc))
		}
		if len(x.req.Timeseries) >= per {
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

// push queues x.req, snappy-compressed as remote write sends it.
func (x *Exporter) push() {
	data, err := x.req.Marshal()
	if err == nil {
		err = x.q.push(snappy.Encode(nil, data), len(x.req.Timeseries))
	}
	if err != nil {
		x.logger.Warn("remote-write samples dropped", "samples", len(x.req.Timeseries), "err", err)
	}
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
		retry, after, err := x.post(ctx, data)
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

// post sends one request. retry: the failure may pass (a network error, a
// 5xx, a 429 when retry_on_http_429); after: the receiver's Retry-After.
func (x *Exporter) post(ctx context.Context, data []byte) (retry bool, after time.Duration, err error) {
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
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
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
	case resp.StatusCode/100 == 5:
		return true, after, err
	case resp.StatusCode == http.StatusTooManyRequests && x.cfg.QueueConfig.RetryOnRateLimit:
		return true, after, err
	}
	return false, 0, err
}
