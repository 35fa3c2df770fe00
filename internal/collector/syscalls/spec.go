package syscalls

import "github.com/kscope/kscope/internal/collector"

// Options are the syscalls collector's settings (its section of the agent
// configuration).
type Options struct {
	// CountsOnly counts calls without timing them or counting their
	// errors: sys_exit stays unhooked, for the lowest cost per call.
	CountsOnly bool `yaml:"counts_only"`
}

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "Every system call: calls per name, errors by errno, durations, top-K per process",
		Default: true,
		Outputs: collector.MetricOutput,
		Options: Options{},
		New: func(cfg collector.Config, opts any) (collector.Collector, error) {
			if opts.(Options).CountsOnly {
				cfg.CountsOnly = true
			}
			return New(cfg)
		},
	})
}
