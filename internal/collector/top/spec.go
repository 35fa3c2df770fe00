package top

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    NetName,
		Doc:     "Network bytes sent and received per process",
		Default: true,
		Outputs: collector.MetricOutput,
		New:     collector.Plain(NewNet),
	})
}
