package netfilter

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Default: true,
		Doc:     "Per-rule packet and byte counters of the `kscope net filter` filters pinned on the host, read from their pinned maps (loads nothing; docs/net.md)",
		Outputs: collector.MetricOutput,
		New:     collector.Plain(New),
	})
}
