package policy

import (
	"errors"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/policy"
)

// The agent runs the rules its policies: key lists. They do not fit a
// collector section's keys: the agent loads and plans them and hands them
// to New in policy.AgentOptions.Set; the section itself only holds audit.
func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "enforces the agent's policies: rules on exec, open and connect matched in the kernel; alert events",
		Default: false,
		Events:  []string{policy.AlertKind.Name},
		Outputs: collector.EventOutput,
		Options: policy.AgentOptions{},
		New:     newFromSpec,
	})
}

// ErrNoRules is New's error for the agent's policy collector without
// rules: enabled in collectors but with nothing under policies.
var ErrNoRules = errors.New("no rules: list policy files or directories under the agent configuration's policies key")

func newFromSpec(cfg collector.Config, opts any) (collector.Collector, error) {
	o, _ := opts.(policy.AgentOptions)
	if o.Set == nil || len(o.Set.Plans) == 0 {
		return nil, ErrNoRules
	}
	return New(Config{Plans: o.Set.Plans, Cgroup: o.Set.Cgroup, Logger: cfg.Logger})
}

// Name is the collector's registry name, for collector.Collector.
func (c *Collector) Name() string { return Name }
