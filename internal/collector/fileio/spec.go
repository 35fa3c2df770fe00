package fileio

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "File I/O per process: bytes and calls read and written, opens and failed opens",
		Default: true,
		Outputs: collector.MetricOutput,
		New:     collector.Plain(New),
	})
}
