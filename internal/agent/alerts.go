package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/metrics"
)

// Webhook retries: an attempt that fails on the network, a timeout, a 5xx
// or a 429 is retried after webhookBackoff, doubling up to
// webhookMaxBackoff, WebhookAttempts attempts in all. Another 4xx is not
// retried: the endpoint refuses the alert.
const (
	WebhookAttempts   = 5
	webhookMaxBackoff = 10 * time.Second
)

// webhookBackoff is the wait before the first retry.
var webhookBackoff = 250 * time.Millisecond

// webhook posts alerts to one endpoint from a bounded queue, one at a time
// and in order, each as its JSON body. A full queue drops the new alert;
// every drop is counted.
type webhook struct {
	cfg    config.Webhook
	label  string // the URL without credentials or query, for metrics and logs
	client *http.Client
	logger *slog.Logger
	queue  chan []byte

	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex    // orders enqueue and the start of close
	closing chan struct{} // closed by close: deliver what is queued, take no more
	done    chan struct{} // closed when run returns
	stop    sync.Once

	sent, retries                           atomic.Uint64
	droppedFull, droppedFailed, droppedStop atomic.Uint64
}

func newWebhook(cfg config.Webhook, queue int, logger *slog.Logger) *webhook {
	if cfg.Timeout <= 0 {
		cfg.Timeout = config.DefaultWebhookTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &webhook{
		cfg:     cfg,
		label:   webhookLabel(cfg.URL),
		client:  &http.Client{Timeout: cfg.Timeout},
		queue:   make(chan []byte, max(queue, 1)),
		ctx:     ctx,
		cancel:  cancel,
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	w.logger = logger.With("webhook", w.label)
	go w.run()
	return w
}

// webhookLabel is u without user information, query or fragment.
func webhookLabel(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "invalid"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// key identifies a webhook's configuration: a reload keeps the senders
// whose key did not change, with their queues and counts.
func webhookKey(cfg config.Webhook) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\x00%d", cfg.URL, cfg.Timeout)
	for _, k := range slices.Sorted(maps.Keys(cfg.Headers)) {
		fmt.Fprintf(&b, "\x00%s=%s", k, cfg.Headers[k])
	}
	return b.String()
}

// enqueue queues body, or drops and counts it when the queue is full or
// the webhook is closing.
func (w *webhook) enqueue(body []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.closing:
		w.droppedStop.Add(1)
		return
	default:
	}
	select {
	case w.queue <- body:
	default:
		w.droppedFull.Add(1)
	}
}

// run delivers the queue in order; once closing, it delivers what is left
// and returns (close cancels what the deadline cuts short).
func (w *webhook) run() {
	defer close(w.done)
	for {
		select {
		case body := <-w.queue:
			w.deliver(body)
		case <-w.closing:
			for {
				select {
				case body := <-w.queue:
					if w.ctx.Err() != nil {
						w.droppedStop.Add(1)
						continue
					}
					w.deliver(body)
				default:
					return
				}
			}
		}
	}
}

// deliver posts body until it is accepted, refused, or the attempts run
// out.
func (w *webhook) deliver(body []byte) {
	wait := webhookBackoff
	for attempt := 1; ; attempt++ {
		retry, err := w.post(body)
		if err == nil {
			w.sent.Add(1)
			return
		}
		if w.ctx.Err() != nil {
			w.droppedStop.Add(1)
			return
		}
		if !retry || attempt == WebhookAttempts {
			w.droppedFailed.Add(1)
			w.logger.Warn("webhook: alert dropped", "attempts", attempt, "err", err)
			return
		}
		w.retries.Add(1)
		w.logger.Debug("webhook: retrying", "attempt", attempt, "in", wait, "err", err)
		select {
		case <-w.ctx.Done():
			w.droppedStop.Add(1)
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, webhookMaxBackoff)
	}
}

// post makes one attempt; retry says whether a failure is worth another.
func (w *webhook) post(body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("building the request: %w", err)
	}
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kscope-agent")
	resp, err := w.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("posting: %w", redact(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("posting: %s", resp.Status)
	}
	return false, fmt.Errorf("posting: the endpoint refused the alert: %s", resp.Status)
}

// redact keeps a URL's credentials out of an error.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// close stops the webhook, allowing it until ctx is done to deliver what
// it holds; what is left then is dropped and counted.
func (w *webhook) close(ctx context.Context) {
	w.stop.Do(func() {
		w.mu.Lock()
		close(w.closing)
		w.mu.Unlock()
		select {
		case <-w.done:
		case <-ctx.Done():
			w.cancel()
			<-w.done
		}
		w.cancel()
	})
}

// alertMetrics are the alert outputs' self metrics.
type alertMetrics struct {
	sent, retries, dropped, logSuppressed *metrics.Desc
}

func newAlertMetrics() alertMetrics {
	return alertMetrics{
		sent:          metrics.NewCounter("kscope_self_alert_webhook_sent_total", "Policy alerts a webhook accepted.", "webhook"),
		retries:       metrics.NewCounter("kscope_self_alert_webhook_retries_total", "Webhook attempts retried after a network error, a timeout, a 5xx or a 429.", "webhook"),
		dropped:       metrics.NewCounter("kscope_self_alert_webhook_dropped_total", "Policy alerts a webhook did not deliver: its queue was full (queue_full), the endpoint refused them or the attempts ran out (failed), or the agent stopped first (shutdown).", "webhook", "reason"),
		logSuppressed: metrics.NewCounter("kscope_self_alerts_log_suppressed_total", "Policy alerts not written to the agent's log because more came than its log rate allows; they are stored and sent to webhooks all the same."),
	}
}

func (m alertMetrics) describe() []*metrics.Desc {
	return []*metrics.Desc{m.sent, m.retries, m.dropped, m.logSuppressed}
}

func (w *webhook) collect(m alertMetrics, e *metrics.Emitter) {
	e.Counter(m.sent, float64(w.sent.Load()), w.label)
	e.Counter(m.retries, float64(w.retries.Load()), w.label)
	e.Counter(m.dropped, float64(w.droppedFull.Load()), w.label, "queue_full")
	e.Counter(m.dropped, float64(w.droppedFailed.Load()), w.label, "failed")
	e.Counter(m.dropped, float64(w.droppedStop.Load()), w.label, "shutdown")
}
