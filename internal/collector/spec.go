package collector

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
)

// Spec is everything kscope knows of a collector, declared once in the
// collector's own package and registered from its init. The CLI's trace
// kinds, the agent's defaults, configuration validation, `kscope agent
// --check` and the docs checks all read the registry.
type Spec struct {
	// Name is the registry name: the agent configuration's
	// collectors.<name> section and `kscope agent --check`'s rows.
	Name string
	// Doc says in one line what the collector does.
	Doc string
	// Default: the agent runs the collector unless its configuration says
	// otherwise.
	Default bool
	// Targeted: the collector needs a target (a program's function or
	// USDT probe) and runs from `kscope trace` alone, never in the agent.
	Targeted bool
	// Events names the event kinds the collector emits (the type field,
	// one of event.Kinds); empty for a collector of metrics only.
	Events []string
	// Trace describes the kinds `kscope trace <kind>` streams from this
	// collector, in --help.
	Trace []TraceKind
	// Outputs says what the collector implements besides Collector.
	Outputs Outputs
	// Options is the value of the collector's options struct holding its
	// defaults, or nil for a collector without options. The agent decodes
	// the collector's configuration section into a copy: each field
	// tagged `yaml:"key"` is a key of the section (bool, int for a positive
	// integer, time.Duration), and a CheckOption(key string) error method,
	// if any, bounds each value as it is read. The type must be comparable:
	// a reload restarts a collector whose options changed.
	Options any
	// New builds the collector from its Config and options, a value of
	// Options's type (Options itself when the configuration says nothing).
	// nil for a Targeted collector, which its command builds.
	New func(cfg Config, opts any) (Collector, error)
}

// TraceKind is one `kscope trace` kind, as --help describes it.
type TraceKind struct {
	Kind   string // the event kind, also the subcommand
	Short  string // one line
	Fields string // the fields its events add to the header's
}

// Outputs is the set of what a collector produces.
type Outputs uint8

const (
	// EventOutput: it emits events to its sink.
	EventOutput Outputs = 1 << iota
	// MetricOutput: it implements metrics.Source.
	MetricOutput
	// ProfileOutput: it implements profile.Source, windows of samples.
	ProfileOutput
)

// String lists the outputs: "events,metrics,profiles".
func (o Outputs) String() string {
	var s []string
	for _, x := range []struct {
		o    Outputs
		name string
	}{{EventOutput, "events"}, {MetricOutput, "metrics"}, {ProfileOutput, "profiles"}} {
		if o&x.o != 0 {
			s = append(s, x.name)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	out := s[0]
	for _, x := range s[1:] {
		out += "," + x
	}
	return out
}

// ErrUnknown is returned by New for a name nobody registered.
var ErrUnknown = errors.New("unknown collector")

// Factory builds a collector with its default options.
type Factory func(Config) (Collector, error)

// Plain adapts a Factory to Spec.New, for a collector without options.
func Plain(f Factory) func(Config, any) (Collector, error) {
	return func(cfg Config, _ any) (Collector, error) { return f(cfg) }
}

var (
	mu    sync.Mutex
	specs = map[string]Spec{}
)

// Register adds s to the registry. It panics on a duplicate name, a kind
// two collectors trace, or an incomplete Spec: programming errors, found
// at start.
func Register(s Spec) {
	if err := register(specs, s); err != nil {
		panic("collector: " + err.Error())
	}
}

func register(into map[string]Spec, s Spec) error {
	mu.Lock()
	defer mu.Unlock()
	switch {
	case s.Name == "":
		return errors.New("registering a Spec without a name")
	case s.Doc == "":
		return fmt.Errorf("registering %s: no Doc", s.Name)
	case s.New == nil && !s.Targeted:
		return fmt.Errorf("registering %s: no New", s.Name)
	case s.Options != nil && (reflect.TypeOf(s.Options).Kind() != reflect.Struct || !reflect.TypeOf(s.Options).Comparable()):
		return fmt.Errorf("registering %s: options %T: want a comparable struct", s.Name, s.Options)
	case len(s.Events) > 0 && s.Outputs&EventOutput == 0, len(s.Events) == 0 && s.Outputs&EventOutput != 0:
		return fmt.Errorf("registering %s: events %v but outputs %v", s.Name, s.Events, s.Outputs)
	}
	if _, dup := into[s.Name]; dup {
		return fmt.Errorf("duplicate registration of %s", s.Name)
	}
	for _, k := range s.Trace {
		if !slices.Contains(s.Events, k.Kind) {
			return fmt.Errorf("registering %s: traces %q, which it does not emit", s.Name, k.Kind)
		}
		for _, o := range into {
			for _, ok := range o.Trace {
				if ok.Kind == k.Kind {
					return fmt.Errorf("registering %s: %s already traces %q", s.Name, o.Name, k.Kind)
				}
			}
		}
	}
	s.Events = slices.Clone(s.Events)
	s.Trace = slices.Clone(s.Trace)
	into[s.Name] = s
	return nil
}

// Lookup returns the Spec registered under name.
func Lookup(name string) (Spec, bool) {
	mu.Lock()
	defer mu.Unlock()
	s, ok := specs[name]
	return s, ok
}

// Specs returns every registered Spec, sorted by name.
func Specs() []Spec {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Spec, 0, len(specs))
	for _, s := range specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the registered collector names, sorted.
func Names() []string {
	var names []string
	for _, s := range Specs() {
		names = append(names, s.Name)
	}
	return names
}

// Agent returns the Specs of the collectors the agent can run (all but the
// Targeted ones), sorted by name.
func Agent() []Spec {
	var out []Spec
	for _, s := range Specs() {
		if !s.Targeted {
			out = append(out, s)
		}
	}
	return out
}

// Traced returns what `kscope trace` streams, ordered as kinds lists the
// event kinds (event.Kinds), with the collector streaming each: untargeted
// kinds first, then the targeted ones (user-space probes, which take a
// target argument).
func Traced(kinds []string) (plain, targeted []Traceable) {
	for _, s := range Specs() {
		for _, k := range s.Trace {
			t := Traceable{TraceKind: k, Collector: s.Name}
			if s.Targeted {
				targeted = append(targeted, t)
			} else {
				plain = append(plain, t)
			}
		}
	}
	order := func(ts []Traceable) {
		sort.SliceStable(ts, func(i, j int) bool {
			return rank(kinds, ts[i].Kind) < rank(kinds, ts[j].Kind)
		})
	}
	order(plain)
	order(targeted)
	return plain, targeted
}

// Traceable is a trace kind and the collector that streams it.
type Traceable struct {
	TraceKind
	Collector string
}

func rank(kinds []string, k string) int {
	if i := slices.Index(kinds, k); i >= 0 {
		return i
	}
	return len(kinds)
}
