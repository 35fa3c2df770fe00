package collector

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/event"
)

type nop struct{}

func (nop) Name() string                            { return "nop" }
func (nop) Start(context.Context, event.Sink) error { return nil }
func (nop) Stats() Stats                            { return Stats{} }
func (nop) Close() error                            { return nil }

func newNop(Config) (Collector, error) { return nop{}, nil }

type nopOptions struct {
	Level int `yaml:"level"`
}

func TestRegisterRejects(t *testing.T) {
	base := map[string]Spec{}
	ok := Spec{Name: "a", Doc: "A.", Events: []string{"exec"}, Outputs: EventOutput,
		Trace: []TraceKind{{Kind: "exec", Short: "s", Fields: "f"}}, New: Plain(newNop)}
	if err := register(base, ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s    Spec
		want string
	}{
		{ok, "duplicate registration of a"},
		{Spec{Doc: "x", New: Plain(newNop)}, "registering a Spec without a name"},
		{Spec{Name: "b", New: Plain(newNop)}, "registering b: no Doc"},
		{Spec{Name: "b", Doc: "x"}, "registering b: no New"},
		{Spec{Name: "b", Doc: "x", New: Plain(newNop), Options: 3}, "registering b: options int: want a comparable struct"},
		{Spec{Name: "b", Doc: "x", New: Plain(newNop), Options: struct{ L []int }{}}, "registering b: options struct { L []int }: want a comparable struct"},
		{Spec{Name: "b", Doc: "x", New: Plain(newNop), Events: []string{"oom"}}, "registering b: events [oom] but outputs none"},
		{Spec{Name: "b", Doc: "x", New: Plain(newNop), Outputs: EventOutput}, "registering b: events [] but outputs events"},
		{Spec{Name: "b", Doc: "x", New: Plain(newNop), Events: []string{"oom"}, Outputs: EventOutput,
			Trace: []TraceKind{{Kind: "open"}}}, `registering b: traces "open", which it does not emit`},
		{Spec{Name: "b", Doc: "x", New: Plain(newNop), Events: []string{"exec"}, Outputs: EventOutput,
			Trace: []TraceKind{{Kind: "exec"}}}, `registering b: a already traces "exec"`},
	} {
		if err := register(base, tc.s); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %s", tc.s, err, tc.want)
		}
	}
	if len(base) != 1 {
		t.Errorf("a rejected Spec was registered: %v", base)
	}
	// A targeted collector needs no New: its command builds it.
	if err := register(base, Spec{Name: "t", Doc: "x", Targeted: true}); err != nil {
		t.Error(err)
	}
}

func TestRegisterPanicsOnDuplicate(t *testing.T) {
	Register(Spec{Name: "test-dup", Doc: "x", New: Plain(newNop)})
	defer func() {
		if r := recover(); r == nil || r != "collector: duplicate registration of test-dup" {
			t.Errorf("recovered %v", r)
		}
	}()
	Register(Spec{Name: "test-dup", Doc: "x", New: Plain(newNop)})
}

func TestNewWith(t *testing.T) {
	var got any
	Register(Spec{Name: "test-opts", Doc: "x", Options: nopOptions{Level: 3},
		New: func(_ Config, opts any) (Collector, error) { got = opts; return nop{}, nil }})
	if _, err := New("test-opts", Config{}); err != nil || got != (nopOptions{Level: 3}) {
		t.Errorf("defaults: %v %+v", err, got)
	}
	if _, err := NewWith("test-opts", Config{}, nopOptions{Level: 7}); err != nil || got != (nopOptions{Level: 7}) {
		t.Errorf("options: %v %+v", err, got)
	}
	if _, err := NewWith("test-opts", Config{}, 7); err == nil || err.Error() != "collector test-opts: options of type int, want collector.nopOptions" {
		t.Errorf("wrong type: %v", err)
	}
	if _, err := New("no-such", Config{}); !errors.Is(err, ErrUnknown) || err.Error() != `unknown collector "no-such"` {
		t.Errorf("unknown: %v", err)
	}
	Register(Spec{Name: "test-targeted", Doc: "x", Targeted: true})
	if _, err := New("test-targeted", Config{}); !errors.Is(err, ErrUnknown) {
		t.Errorf("targeted: %v", err)
	}
	for _, s := range Agent() {
		if s.Targeted {
			t.Errorf("Agent lists targeted %s", s.Name)
		}
	}
	if _, ok := Lookup("test-targeted"); !ok {
		t.Error("Lookup misses test-targeted")
	}
}

func TestTracedOrder(t *testing.T) {
	Register(Spec{Name: "test-z", Doc: "x", New: Plain(newNop), Events: []string{"zz2", "zz1"}, Outputs: EventOutput,
		Trace: []TraceKind{{Kind: "zz2"}, {Kind: "zz1"}}})
	Register(Spec{Name: "test-t", Doc: "x", Targeted: true, Events: []string{"zz3"}, Outputs: EventOutput,
		Trace: []TraceKind{{Kind: "zz3"}}})
	plain, targeted := Traced([]string{"zz1", "zz3", "zz2"})
	var names []string
	for _, p := range plain {
		names = append(names, p.Collector+":"+p.Kind)
	}
	if got := strings.Join(names, ","); got != "test-z:zz1,test-z:zz2" {
		t.Errorf("plain %s", got)
	}
	if len(targeted) != 1 || targeted[0].Kind != "zz3" || targeted[0].Collector != "test-t" {
		t.Errorf("targeted %+v", targeted)
	}
}

func TestOutputsString(t *testing.T) {
	for o, want := range map[Outputs]string{0: "none", EventOutput: "events", EventOutput | MetricOutput: "events,metrics",
		MetricOutput | ProfileOutput: "metrics,profiles"} {
		if got := o.String(); got != want {
			t.Errorf("%d: %s, want %s", o, got, want)
		}
	}
}
