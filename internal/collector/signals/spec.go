package signals

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "Signals generated, by name, and one event per process killed by a signal",
		Default: true,
		Events:  []string{EventType},
		Outputs: collector.EventOutput | collector.MetricOutput,
		Trace: []collector.TraceKind{{
			Kind:   EventType,
			Short:  "Trace processes killed by a signal: the signal and who sent it",
			Fields: "signal, signo, code, fatal, core_dumped, sender_pid, sender_tid, sender_uid, sender_comm",
		}},
		New: collector.Plain(New),
	})
}
