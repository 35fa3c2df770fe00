package block

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "Block I/O per disk and operation: requests, bytes, latency, queue time, errors",
		Default: true,
		Outputs: collector.MetricOutput,
		New:     collector.Plain(New),
	})
}
