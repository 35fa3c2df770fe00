package dns

import (
	"fmt"
	"time"

	"github.com/kscope/kscope/internal/collector"
)

// Options are the dns collector's settings (its section of the agent
// configuration).
type Options struct {
	// Timeout is how long a query waits for its answer before it is
	// reported unanswered.
	Timeout time.Duration `yaml:"timeout"`
}

// CheckOption implements config.OptionChecker.
func (o Options) CheckOption(key, text string) error {
	if key == "timeout" && (o.Timeout < 100*time.Millisecond || o.Timeout > time.Minute) {
		return fmt.Errorf("from 100ms to 1m, not %q", text)
	}
	return nil
}

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "DNS over UDP and TCP: each query with its answer or timeout, the asking process, requests by type and rcode, latency (off by default: one event per lookup)",
		Events:  []string{KindName},
		Outputs: collector.EventOutput | collector.MetricOutput,
		Options: Options{Timeout: DefaultTimeout},
		New: func(cfg collector.Config, opts any) (collector.Collector, error) {
			return NewWithTimeout(cfg, opts.(Options).Timeout)
		},
	})
}
