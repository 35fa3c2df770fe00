package netfilter

import "github.com/kscope/kscope/internal/collector"

// AgentOptions are the netfilter collector's settings (its section of the
// agent configuration).
type AgentOptions struct {
	// PinDir is where the filters are pinned, as kscope net filter's
	// --pin-dir.
	PinDir string `yaml:"pin_dir"`
}

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Default: true,
		Doc:     "Per-rule packet and byte counters of the `kscope net filter` filters pinned on the host, read from their pinned maps (loads nothing; docs/net.md)",
		Outputs: collector.MetricOutput,
		Options: AgentOptions{PinDir: DefaultRoot},
		New: func(_ collector.Config, opts any) (collector.Collector, error) {
			return NewAt(opts.(AgentOptions).PinDir), nil
		},
	})
}
