package remotewrite

import (
	"github.com/kscope/kscope/internal/export"
	"github.com/kscope/kscope/internal/metrics"
)

// Describe lists the exporters' self metrics.
func (x *Exporter) Describe() []*metrics.Desc { return export.SelfMetrics() }

// Collect reports the exporter's queue and counts.
func (x *Exporter) Collect(e *metrics.Emitter) error {
	if x.q == nil {
		return nil
	}
	n, bytes, _, dropped := x.q.stats()
	name := x.Name()
	e.Gauge(export.QueueSamples, float64(n), name)
	e.Gauge(export.QueueBytes, float64(bytes), name)
	e.Gauge(export.QueueMax, float64(x.q.maxBytes), name)
	e.Counter(export.SentTotal, float64(x.sent.Load()), name)
	e.Counter(export.FailedTotal, float64(x.failed.Load()), name)
	e.Counter(export.DroppedTotal, float64(dropped), name, "queue_full")
	e.Counter(export.DroppedTotal, float64(x.rejected.Load()), name, "rejected")
	return nil
}
