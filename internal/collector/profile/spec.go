package profile

import (
	"fmt"
	"time"

	"github.com/kscope/kscope/internal/collector"
)

// DefaultWindow is how much time each profile of the agent's covers.
const DefaultWindow = 10 * time.Second

// Settings are the profile collector's settings in the agent (its section
// of the agent configuration).
type Settings struct {
	Hz     int           `yaml:"hz"`      // samples per second per CPU
	OffCPU bool          `yaml:"off_cpu"` // also the time tasks spend blocked
	Window time.Duration `yaml:"window"`  // the time each stored profile covers
}

// CheckOption implements config.OptionChecker.
func (s Settings) CheckOption(key, text string) error {
	switch {
	case key == "hz" && s.Hz > MaxHz:
		return fmt.Errorf("at most %d", MaxHz)
	case key == "window" && s.Window < time.Second:
		return fmt.Errorf("at least 1s, not %q", text)
	}
	return nil
}

func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "Stack samples of every CPU, on-CPU and optionally off-CPU, stored as profiles in windows",
		Default: true,
		Outputs: collector.MetricOutput | collector.ProfileOutput,
		Options: Settings{Hz: DefaultHz, Window: DefaultWindow},
		New: func(cfg collector.Config, opts any) (collector.Collector, error) {
			return NewWindows(cfg, opts.(Settings))
		},
	})
}
