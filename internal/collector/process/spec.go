package process

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "The life of processes: execs, forks, exits by code or signal, lifetimes, processes alive, on-CPU time",
		Default: true,
		Outputs: collector.MetricOutput,
		New:     collector.Plain(New),
	})
}
