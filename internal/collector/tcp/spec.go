package tcp

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "TCP connections: opened, failed, closed, lifetimes, bytes, retransmits, resets, states, top-K endpoints",
		Default: true,
		Outputs: collector.MetricOutput,
		New:     collector.Plain(New),
	})
}
