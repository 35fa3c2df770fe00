package open

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "open, openat and openat2: path, flags, mode and result (off by default: every file open on the host is a stream for `kscope trace open`, not history)",
		Default: false,
		Events:  []string{"open"},
		Outputs: collector.EventOutput,
		Trace: []collector.TraceKind{{
			Kind:   "open",
			Short:  "Trace open/openat/openat2: path, flags, mode and result",
			Fields: "path, path_truncated, flags, mode, ret, error",
		}},
		New: collector.Plain(New),
	})
}
