package agent

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/probe"
)

// ProbesError is a script of the probes key that does not compile: its
// text is every error, FILE:LINE:COL: message. Configuration: `kscope
// agent` and `--check` exit 2 on it.
type ProbesError struct{ Err error }

func (e ProbesError) Error() string { return "loading the probes: " + e.Err.Error() }

func (e ProbesError) Unwrap() error { return e.Err }

// scripts is the agent's side of the probes key: it loads the scripts into
// the probes collector's options and keeps the running ones when a reload
// brings a script that does not compile.
type scripts struct {
	mu  sync.Mutex
	key string     // what the running scripts were loaded from: files and contents
	set *probe.Set // the scripts of key
}

// load parses and checks the scripts cfg's probes key lists, when the
// probes collector is enabled, into its options. Unchanged files keep
// their Set, so a reload leaves their collector running. On an error cfg
// keeps the running scripts, if any.
func (s *scripts) load(cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cc, ok := cfg.Collectors[config.ProbesCollector]
	if !ok || !cc.Enabled || len(cfg.Probes) == 0 {
		return nil
	}
	opts, _ := cc.Options.(probe.AgentOptions)
	keep := func(err error) error {
		opts.Set = s.set
		cc.Options = opts
		cfg.Collectors[config.ProbesCollector] = cc
		if err != nil {
			return ProbesError{err}
		}
		return nil
	}
	files, err := probe.ScriptFiles(cfg.Probes)
	if err != nil {
		return keep(err)
	}
	key, err := fingerprint(files, false)
	if err != nil {
		return keep(fmt.Errorf("probes: %w", err))
	}
	if key == s.key && s.set != nil {
		return keep(nil)
	}
	set, err := probe.LoadFiles(files)
	if err != nil {
		return keep(err)
	}
	s.key, s.set = key, set
	return keep(nil)
}

// programSet is a collector with programs of several collections (the
// probes collector's scripts), by their names in bpf_stats.
type programSet interface {
	Programs() map[string]*ebpf.Program
}

// scriptLister is the probes collector: its running scripts.
type scriptLister interface {
	Scripts() []probe.ScriptStatus
}

// probesJSON is /api/v1/probes: the running scripts of the probes key,
// each probe's runs and run time within the bpf_stats sampling windows,
// and each script's losses.
func (a *Agent) probesJSON() ([]byte, error) {
	type probeJSON struct {
		Probes     []string `json:"probes"`
		Program    string   `json:"program"`
		Runs       *uint64  `json:"runs"`
		RunSeconds *float64 `json:"run_seconds"`
		NsPerRun   *float64 `json:"ns_per_run"`
	}
	type scriptJSON struct {
		Name           string      `json:"name"`
		File           string      `json:"file"`
		Probes         []probeJSON `json:"probes"`
		LostRecords    uint64      `json:"lost_records"`
		LostMapUpdates uint64      `json:"lost_map_updates"`
	}
	type statsJSON struct {
		SampledSeconds float64 `json:"sampled_seconds"`
		Windows        uint64  `json:"windows"`
		Error          string  `json:"error,omitempty"`
	}
	out := struct {
		Scripts  []scriptJSON `json:"scripts"`
		BPFStats *statsJSON   `json:"bpf_stats"`
	}{Scripts: []scriptJSON{}}
	a.mu.Lock()
	defer a.mu.Unlock()
	totals := map[string]statTotal{}
	if a.stats != nil {
		sampled, windows, err := a.stats.snapshot(func(k statKey, t statTotal) {
			if k.collector == config.ProbesCollector {
				totals[k.program] = t
			}
		})
		out.BPFStats = &statsJSON{SampledSeconds: sampled.Seconds(), Windows: windows}
		if err != nil {
			out.BPFStats.Error = err.Error()
		}
	}
	for _, r := range a.running {
		sl, ok := r.c.(scriptLister)
		if !ok {
			continue
		}
		for _, s := range sl.Scripts() {
			sj := scriptJSON{Name: s.Name, File: s.File, LostRecords: s.LostRecords, LostMapUpdates: s.LostMapUpdates, Probes: []probeJSON{}}
			for _, p := range s.Probes {
				pj := probeJSON{Probes: p.Names, Program: p.Program}
				if out.BPFStats != nil {
					t := totals[p.Program]
					secs := t.runtime.Seconds()
					pj.Runs, pj.RunSeconds = &t.runs, &secs
					if t.runs > 0 {
						ns := float64(t.runtime.Nanoseconds()) / float64(t.runs)
						pj.NsPerRun = &ns
					}
				}
				sj.Probes = append(sj.Probes, pj)
			}
			out.Scripts = append(out.Scripts, sj)
		}
	}
	return json.Marshal(out)
}
