package remotewrite

import "github.com/kscope/kscope/internal/metrics"

// The exporters' self metrics, shared by every exporter (the agent lists
// each family once).
var (
	queueSamples = metrics.NewGauge("kscope_self_export_queue_samples", "Samples waiting in the exporter's queue.", "exporter")
	queueBytes   = metrics.NewGauge("kscope_self_export_queue_bytes", "Bytes the exporter's queue holds on disk.", "exporter")
	queueMax     = metrics.NewGauge("kscope_self_export_queue_max_bytes", "The exporter's queue budget: past it the oldest samples are dropped.", "exporter")
	sentTotal    = metrics.NewCounter("kscope_self_export_samples_sent_total", "Samples the exporter's endpoint accepted.", "exporter")
	failedTotal  = metrics.NewCounter("kscope_self_export_requests_failed_total", "Requests to the exporter's endpoint that failed: retried (a network error, a 5xx, a 429) or rejected for good (another 4xx).", "exporter")
	droppedTotal = metrics.NewCounter("kscope_self_export_samples_dropped_total", "Samples the exporter did not send: the queue was over its budget (queue_full, oldest first) or the endpoint rejected them for good (rejected).", "exporter", "reason")
)

// Describe lists the exporters' self metrics.
func (x *Exporter) Describe() []*metrics.Desc {
	return []*metrics.Desc{queueSamples, queueBytes, queueMax, sentTotal, failedTotal, droppedTotal}
}

// Collect reports the exporter's queue and counts.
func (x *Exporter) Collect(e *metrics.Emitter) error {
	if x.q == nil {
		return nil
	}
	n, bytes, _, dropped := x.q.stats()
	name := x.Name()
	e.Gauge(queueSamples, float64(n), name)
	e.Gauge(queueBytes, float64(bytes), name)
	e.Gauge(queueMax, float64(x.q.maxBytes), name)
	e.Counter(sentTotal, float64(x.sent.Load()), name)
	e.Counter(failedTotal, float64(x.failed.Load()), name)
	e.Counter(droppedTotal, float64(dropped), name, "queue_full")
	e.Counter(droppedTotal, float64(x.rejected.Load()), name, "rejected")
	return nil
}
