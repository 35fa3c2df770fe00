package exec

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "Process executions (execve, execveat): filename, argv and result",
		Default: true,
		Events:  []string{"exec"},
		Outputs: collector.EventOutput,
		Trace: []collector.TraceKind{{
			Kind:   "exec",
			Short:  "Trace execve/execveat: program, arguments and result",
			Fields: "filename, argv, argv_truncated, ret, error",
		}},
		New: collector.Plain(New),
	})
}
