package export

import "github.com/kscope/kscope/internal/metrics"

// The exporters' self metrics, shared by every exporter and labelled by
// its Name (the agent lists each family once). A sample is what the
// exporter sends: a series' value for remote write; a metric data point,
// a log record (an event) or a profile sample for OTLP.
var (
	QueueSamples = metrics.NewGauge("kscope_self_export_queue_samples", "Samples waiting in the exporter's queue.", "exporter")
	QueueBytes   = metrics.NewGauge("kscope_self_export_queue_bytes", "Bytes the exporter's queue holds (on disk for remote write, in memory for OTLP).", "exporter")
	QueueMax     = metrics.NewGauge("kscope_self_export_queue_max_bytes", "The exporter's queue budget: past it the oldest samples are dropped.", "exporter")
	SentTotal    = metrics.NewCounter("kscope_self_export_samples_sent_total", "Samples the exporter's endpoint accepted.", "exporter")
	FailedTotal  = metrics.NewCounter("kscope_self_export_requests_failed_total", "Requests to the exporter's endpoint that failed: retried (a network error, a 5xx, a 429) or rejected for good (another 4xx).", "exporter")
	DroppedTotal = metrics.NewCounter("kscope_self_export_samples_dropped_total", "Samples the exporter did not send: the queue was over its budget (queue_full, oldest first) or the endpoint rejected them for good (rejected).", "exporter", "reason")
)

// SelfMetrics lists the exporters' self metrics.
func SelfMetrics() []*metrics.Desc {
	return []*metrics.Desc{QueueSamples, QueueBytes, QueueMax, SentTotal, FailedTotal, DroppedTotal}
}
