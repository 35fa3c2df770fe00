package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/probe/check"
)

// EventKind is the kind of the events an agent's script prints: each
// printf's text.
var EventKind = mustKind()

func mustKind() *event.Kind {
	k, err := event.NewKind("probe", "A line an agent script printed with printf", []event.Field{
		{Name: "script", Type: event.TypeString, Doc: "the script's name: its file name without .bt"},
		{Name: "probe", Type: event.TypeString, Doc: "the probe that printed it, as bpftrace names it (tracepoint:syscalls:sys_enter_getppid)"},
		{Name: "text", Type: event.TypeString, Doc: "what printf printed"},
	})
	if err != nil {
		panic(err)
	}
	if err := event.Register(k); err != nil {
		panic(err)
	}
	return k
}

// AgentOptions are the probes collector's options in the agent: the
// scripts of the agent's probes key, loaded (parsed and checked) by the
// agent. The collector section itself has no keys.
type AgentOptions struct {
	// Set is the scripts the agent loaded; nil in a section read from a
	// configuration file, which the collector refuses.
	Set *Set `yaml:"-"`
}

// Set is one loaded generation of the agent's scripts: a reload that
// changes them builds a new Set.
type Set struct {
	Scripts []*AgentScript
}

// AgentScript is one script of the agent's probes key.
type AgentScript struct {
	// Name is the file's base name without .bt, made a valid metric name
	// part: the X of kscope_probe_X_map.
	Name string
	*Script
}

// ScriptFiles expands the probes key: a directory stands for its *.bt
// files, in name order.
func ScriptFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("probes: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		in, err := filepath.Glob(filepath.Join(p, "*.bt"))
		if err != nil {
			return nil, fmt.Errorf("probes: %s: %w", p, err)
		}
		if len(in) == 0 {
			return nil, fmt.Errorf("probes: %s: no scripts (*.bt) in the directory", p)
		}
		slices.Sort(in)
		files = append(files, in...)
	}
	return files, nil
}

// LoadFiles parses and checks every script of files. The error holds
// every script's errors, each FILE:LINE:COL: message.
func LoadFiles(files []string) (*Set, error) {
	set := &Set{}
	var errs []error
	names := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the script: %w", err))
			continue
		}
		name := ScriptName(f)
		if other, ok := names[name]; ok {
			errs = append(errs, fmt.Errorf("%s: the script's metrics would be named as those of %s (kscope_probe_%s_…): rename one", f, other, name))
			continue
		}
		names[name] = f
		s, err := Load(f, src, &check.Config{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set.Scripts = append(set.Scripts, &AgentScript{Name: name, Script: s})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

// ScriptName is the script's name in metric names and events: its file's
// base name without .bt, every character that may not be in a metric name
// made '_'.
func ScriptName(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), ".bt")
	return MetricPart(base)
}

// MetricPart makes s a valid part of a Prometheus metric name: letters,
// digits and '_'; '_' for anything else.
func MetricPart(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ScriptStatus is a script running in the agent, as /api/v1/probes lists
// it.
type ScriptStatus struct {
	Name   string
	File   string
	Probes []ProbeStatus
	// LostRecords counts the printf records its ring buffer had no room
	// for, LostMapUpdates the map updates its full maps refused.
	LostRecords, LostMapUpdates uint64
}

// ProbeStatus is one program of a running script.
type ProbeStatus struct {
	Names []string // the probes sharing the program, as bpftrace names them
	// Program is the program's name in the agent's bpf_stats
	// (kscope_self_bpf_program_runs_total{collector="probes",program=…}):
	// SCRIPT:FIRST_PROBE.
	Program string
}
