package agent

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/collector"
	cprofile "github.com/kscope/kscope/internal/collector/profile"
	"github.com/kscope/kscope/internal/collector/syscalls"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/policy"
	"github.com/kscope/kscope/internal/probe"
	"github.com/kscope/kscope/internal/profile"
)

// The registry holds every collector, each declared once: the agent's
// defaults are what they were (open and http off), every kind is emitted
// by one collector, and what a Spec says it outputs is what its collector
// implements.
func TestSpecs(t *testing.T) {
	var defaults []string
	for name, on := range DefaultCollectors() {
		if name != "broken" {
			defaults = append(defaults, name+"="+map[bool]string{true: "on", false: "off"}[on])
		}
	}
	slices.Sort(defaults)
	want := "block=on connect=on dns=off drops=off exec=on exit=on fileio=on flows=off http=off oom=on open=off policy=off probes=off process=on procnet=on profile=on sched=on signals=on syscalls=on tcp=on"
	if got := strings.Join(defaults, " "); got != want {
		t.Errorf("defaults\n got %s\nwant %s", got, want)
	}

	emitted := map[string][]string{}
	for _, s := range collector.Specs() {
		for _, k := range s.Events {
			// A built-in kind, or one its collector's package registers.
			if event.LookupKind(k) == nil {
				t.Errorf("%s emits %q, not a registered kind", s.Name, k)
			}
			emitted[k] = append(emitted[k], s.Name)
		}
		if s.Targeted || s.Name == "broken" {
			continue
		}
		var opts any = s.Options
		if s.Name == config.PolicyCollector {
			// Its rules come from the agent's policies key.
			if _, err := collector.NewWith(s.Name, collector.Config{}, opts); err == nil || !strings.Contains(err.Error(), "no rules") {
				t.Errorf("policy without rules: %v", err)
			}
			rules, err := policy.Parse("p.yaml", []byte("rules:\n  - {name: r, on: exec, match: {comm: [sh]}, action: alert}\n"))
			if err != nil {
				t.Fatal(err)
			}
			plans, err := policy.PlanRules(rules, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			opts = policy.AgentOptions{Set: &policy.Set{Plans: plans}}
		}
		if s.Name == config.ProbesCollector {
			// Its scripts come from the agent's probes key.
			if _, err := collector.NewWith(s.Name, collector.Config{}, opts); err == nil || !strings.Contains(err.Error(), "no scripts") {
				t.Errorf("probes without scripts: %v", err)
			}
			sc, err := probe.Load("a.bt", []byte("BEGIN { @x = count(); }\n"), nil)
			if err != nil {
				t.Fatal(err)
			}
			opts = probe.AgentOptions{Set: &probe.Set{Scripts: []*probe.AgentScript{{Name: "a", Script: sc}}}}
		}
		c, err := collector.NewWith(s.Name, collector.Config{}, opts)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		_, isMetrics := c.(metrics.Source)
		_, isProfile := c.(profile.Source)
		if isMetrics != (s.Outputs&collector.MetricOutput != 0) || isProfile != (s.Outputs&collector.ProfileOutput != 0) {
			t.Errorf("%s: outputs %v, but metrics.Source %v, profile.Source %v", s.Name, s.Outputs, isMetrics, isProfile)
		}
		if c.Name() != s.Name {
			t.Errorf("Spec %s builds collector %s", s.Name, c.Name())
		}
		c.Close()
	}
	for _, k := range append(slices.Clone(event.Kinds), slices.Sorted(maps.Keys(emitted))...) {
		if len(emitted[k]) != 1 {
			t.Errorf("kind %s emitted by %v, want one collector", k, emitted[k])
		}
	}
}

// A collector's options come from the registry, with the file:line errors
// of every other key.
func TestSectionsFromRegistry(t *testing.T) {
	sections := Sections()
	c, err := config.Parse("k.yaml", []byte("collectors:\n  syscalls: {counts_only: true}\n  profile:\n    off_cpu: true\n"), sections)
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Collectors["syscalls"].Options; o != (syscalls.Options{CountsOnly: true}) {
		t.Errorf("syscalls options %+v", o)
	}
	if o := c.Collectors["profile"].Options; o != (cprofile.Settings{Hz: 19, OffCPU: true, Window: 10 * time.Second}) {
		t.Errorf("profile options %+v", o)
	}
	if o := c.Collectors["tcp"].Options; o != nil {
		t.Errorf("tcp options %+v", o)
	}
	for src, want := range map[string]string{
		"collectors:\n  profile: {hz: 20000}\n":       `k.yaml:2: collectors.profile.hz: at most 10000`,
		"collectors:\n  profile:\n    window: 0.5s\n": `k.yaml:3: collectors.profile.window: at least 1s, not "0.5s"`,
		"collectors:\n  tcp: {counts_only: true}\n":   `k.yaml:2: collectors.tcp.counts_only: unknown key (known: enabled, topk)`,
		"collectors:\n  syscalls: {hz: 1}\n":          `k.yaml:2: collectors.syscalls.hz: unknown key (known: enabled, topk, counts_only)`,
		"collectors:\n  profile: {rate: 1}\n":         `k.yaml:2: collectors.profile.rate: unknown key (known: enabled, topk, hz, off_cpu, window)`,
		"collectors:\n  dns: {timeout: 10ms}\n":       `k.yaml:2: collectors.dns.timeout: from 100ms to 1m, not "10ms"`,
		"collectors:\n  flows: {idle_timeout: 1s}\n":  `k.yaml:2: collectors.flows.idle_timeout: from 5s to 1h, not "1s"`,
		"collectors:\n  uprobe: true\n":               `k.yaml:2: collectors.uprobe: unknown key (known: block, broken, connect, dns, drops, exec, exit, fileio, flows, http, oom, open, policy, probes, process, procnet, profile, sched, signals, syscalls, tcp)`,
	} {
		if _, err := config.Parse("k.yaml", []byte(src), sections); err == nil || err.Error() != want {
			t.Errorf("%q: %v\nwant %s", src, err, want)
		}
	}
}
