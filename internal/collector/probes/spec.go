package probes

import (
	"errors"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/probe"
)

// Name is the collector's registry name.
const Name = "probes"

// The scripts come from the agent's probes key, not from the collector's
// section: the agent loads and checks them and hands them to New in
// probe.AgentOptions.Set.
func init() {
	collector.Register(collector.Spec{
		Name:    Name,
		Doc:     "The agent's bpftrace scripts (the probes key), always on: their maps as metrics, their printf lines as probe events",
		Default: false,
		Events:  []string{probe.EventKind.Name},
		Outputs: collector.EventOutput | collector.MetricOutput,
		Options: probe.AgentOptions{},
		New:     newFromSpec,
	})
}

// ErrNoScripts is New's error for the probes collector without scripts:
// enabled in collectors but with nothing under the probes key.
var ErrNoScripts = errors.New("no scripts: list bpftrace scripts (.bt) or directories of them under the agent configuration's probes key")

func newFromSpec(cfg collector.Config, opts any) (collector.Collector, error) {
	o, _ := opts.(probe.AgentOptions)
	if o.Set == nil || len(o.Set.Scripts) == 0 {
		return nil, ErrNoScripts
	}
	return New(cfg, o.Set)
}
