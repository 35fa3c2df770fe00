package exit

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "Process exits: exit code, signal and lifetime",
		Default: true,
		Events:  []string{"exit"},
		Outputs: collector.EventOutput,
		Trace: []collector.TraceKind{{
			Kind:   "exit",
			Short:  "Trace process exits: exit code, signal and lifetime",
			Fields: "exit_code, signal, core_dumped, duration_ns",
		}},
		New: collector.Plain(New),
	})
}
