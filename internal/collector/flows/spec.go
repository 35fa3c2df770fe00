package flows

import "github.com/kscope/kscope/internal/collector"

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "TCP and UDP flows with their process: bytes and packets each way, TCP state, retransmits and RTT; a flow event when one ends (off by default: one event per flow)",
		Events:  []string{KindName},
		Outputs: collector.EventOutput | collector.MetricOutput,
		Options: Options{IdleTimeout: DefaultIdleTimeout},
		New: func(cfg collector.Config, opts any) (collector.Collector, error) {
			return NewWithIdle(cfg, opts.(Options).IdleTimeout)
		},
	})
}
