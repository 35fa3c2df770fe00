package sched

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "The scheduler: run-queue latency, context switches, wakeups and migrations",
		Default: true,
		Outputs: collector.MetricOutput,
		New:     collector.Plain(New),
	})
}
