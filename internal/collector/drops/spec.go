package drops

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "Packets the kernel dropped, with its drop reason: a counter per reason and one event per drop (off by default: a flood of drops is a flood of events, docs/net.md)",
		Events:  []string{KindName},
		Outputs: collector.EventOutput | collector.MetricOutput,
		New:     collector.Plain(New),
	})
}
