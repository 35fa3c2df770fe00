package oom

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "Processes killed by the out-of-memory killer: a counter and one event per kill",
		Default: true,
		Events:  []string{"oom"},
		Outputs: collector.EventOutput | collector.MetricOutput,
		Trace: []collector.TraceKind{{
			Kind:   "oom",
			Short:  "Trace OOM kills: the victim, the task that triggered it and memory sizes",
			Fields: "trigger_pid, trigger_comm, memcg_id, sizes in bytes, oom_score_adj",
		}},
		New: collector.Plain(New),
	})
}
