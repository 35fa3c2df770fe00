package agent

import (
	"fmt"
	"sync"

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
