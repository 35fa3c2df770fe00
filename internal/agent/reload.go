package agent

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/config"
)

// Reloaded says what a configuration reload changed.
type Reloaded struct {
	Started, Stopped, Restarted, Unchanged []string
	// Ignored lists the settings that only apply at start (listen,
	// data_dir, event_queue, query, remote_write, external_labels, otlp): they
	// keep their running values.
	Ignored []string
}

// Reload applies a new configuration to the running agent, as SIGHUP
// asks: collectors newly enabled start, collectors disabled stop (their
// last events reach the store), collectors whose settings changed restart,
// and the others keep running untouched, their BPF programs and links as
// they were. Retention, interval and topk apply at once; the rule files
// are read again and the Alertmanagers replaced. No collection
// runs during the reload, and the stores stay open: nothing stored is lost.
func (a *Agent) Reload(cfg *config.Config) (Reloaded, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var res Reloaded
	old := a.cfg
	next := *cfg
	next.Collectors = maps.Clone(cfg.Collectors)
	for _, s := range []struct {
		key      string
		cur, new *string
	}{{"listen", &old.Listen, &next.Listen}, {"data_dir", &old.DataDir, &next.DataDir}} {
		if *s.cur != *s.new {
			res.Ignored = append(res.Ignored, s.key)
			*s.new = *s.cur
		}
	}
	if old.EventQueue != next.EventQueue {
		res.Ignored = append(res.Ignored, "event_queue")
		next.EventQueue = old.EventQueue
	}
	if old.Query != next.Query {
		res.Ignored = append(res.Ignored, "query")
		next.Query = old.Query
	}
	if !reflect.DeepEqual(old.RemoteWrite, next.RemoteWrite) {
		res.Ignored = append(res.Ignored, "remote_write")
		next.RemoteWrite = old.RemoteWrite
	}
	if !reflect.DeepEqual(old.OTLP, next.OTLP) {
		res.Ignored = append(res.Ignored, "otlp")
		next.OTLP = old.OTLP
	}
	if old.Containers != next.Containers {
		res.Ignored = append(res.Ignored, "containers")
		next.Containers = old.Containers
	}
	if !labels.Equal(old.ExternalLabels, next.ExternalLabels) {
		res.Ignored = append(res.Ignored, "external_labels")
		next.ExternalLabels = old.ExternalLabels
	}

	var errs []error
	budgetChanged := !reflect.DeepEqual(old.Budget, next.Budget)
	if budgetChanged {
		errs = append(errs, a.applyBudget(next.Budget))
	}
	if next.Storage != old.Storage && a.metrics != nil {
		a.metrics.MaxSeries = uint64(max(next.Storage.MaxSeries, 0))
	}
	if next.Retention != old.Retention || budgetChanged {
		if a.metrics != nil {
			errs = append(errs, a.metrics.SetRetention(next.Retention, a.sizes.Metrics))
		}
	}
	if next.Retention != old.Retention {
		if a.events != nil {
			a.events.SetRetention(next.Retention)
		}
		if a.profiles != nil {
			a.profiles.SetRetention(next.Retention)
		}
	}

	// The policies key's files are reread: rules that changed make a new
	// Set in the policy collector's options, which restarts it below; rules
	// that do not load keep the running ones.
	if err := a.pol.load(&next); err != nil {
		a.logger.Error("loading the policies: keeping the running rules", "err", err)
		errs = append(errs, fmt.Errorf("loading the policies: %w", err))
	}
	a.pol.configureHooks(&next)
	// The probes key's scripts likewise: changed ones make a new Set,
	// which restarts the probes collector; a script that does not compile
	// keeps the running ones.
	if err := a.scripts.load(&next); err != nil {
		a.logger.Error("keeping the running scripts", "err", err)
		errs = append(errs, err)
	}

	// What each collector does.
	byName := map[string]*running{}
	for _, r := range a.running {
		byName[r.name] = r
	}
	wasEnabled := map[string]bool{}
	for _, n := range old.Enabled() {
		wasEnabled[n] = true
	}
	stop := map[string]bool{}
	var start, swap []string
	for _, n := range unionNames(old, &next) {
		on, was := next.Collectors[n].Enabled, wasEnabled[n]
		switch {
		case was && !on:
			stop[n] = true
			res.Stopped = append(res.Stopped, n)
		case !was && on:
			start = append(start, n)
			res.Started = append(res.Started, n)
		case was && on && effective(old, n) != effective(&next, n) && n == config.PolicyCollector:
			// The new rules start before the old ones stop: no gap in
			// enforcement, and the old ones stay if the new fail.
			swap = append(swap, n)
			res.Restarted = append(res.Restarted, n)
		case was && on && effective(old, n) != effective(&next, n):
			stop[n] = true
			start = append(start, n)
			res.Restarted = append(res.Restarted, n)
		case was && on:
			res.Unchanged = append(res.Unchanged, n)
		}
	}

	// Stop first: BPF statistics sampling before the programs it reads
	// (restartBPFStats starts it again), the profile recorder before the
	// profiler it reads.
	if a.stats != nil {
		a.stats.Close()
	}
	kept := a.running[:0]
	for _, r := range a.running {
		if stop[r.name] {
			r.stopProfiles()
			if err := r.c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("stopping %s: %w", r.name, err))
			}
			a.pol.retired(r.c)
			continue
		}
		kept = append(kept, r)
	}
	a.running = kept
	statuses := a.statuses[:0:0]
	for _, s := range a.statuses {
		if !stop[s.Name] && next.Collectors[s.Name].Enabled {
			statuses = append(statuses, s)
		}
	}

	a.cfg = &next
	for _, n := range start {
		st, r := a.startCollector(a.ctx, n)
		statuses = append(statuses, st)
		if r != nil {
			a.running = append(a.running, r)
		}
	}
	for _, n := range swap {
		statuses, errs = a.swapCollector(n, old, statuses, errs)
	}
	sort.Slice(statuses, func(i, j int) bool { return statuses[i].Name < statuses[j].Name })
	sort.Slice(a.running, func(i, j int) bool { return a.running[i].name < a.running[j].name })
	a.statuses = statuses
	a.restartBPFStats()
	if a.ruler != nil {
		// The rule files are read again; groups that did not change keep
		// their state (pending alerts, for durations).
		errs = append(errs, a.ruler.apply(&next))
	}
	a.descs = a.describe()
	if next.Interval != old.Interval {
		select {
		case a.intervalChanged <- struct{}{}:
		default:
		}
	}
	return res, errors.Join(errs...)
}

// effective is a collector's settings with the global ones it inherits
// and its options' defaults.
func effective(c *config.Config, name string) config.Collector {
	cc := c.Collectors[name]
	if cc.TopK == 0 {
		cc.TopK = c.TopK
	}
	if cc.Options == nil {
		if s, ok := collector.Lookup(name); ok {
			cc.Options = s.Options
		}
	}
	return cc
}

func unionNames(a, b *config.Config) []string {
	var out []string
	for n := range a.Collectors {
		out = append(out, n)
	}
	for n := range b.Collectors {
		if _, ok := a.Collectors[n]; !ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// interval is the current collection interval.
func (a *Agent) interval() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg.Interval
}

// applyBudget resizes the stores' byte budgets and resets the collectors'
// event rate limits to b's.
func (a *Agent) applyBudget(b config.Budget) error {
	fsBytes, err := filesystemBytes(a.cfg.DataDir)
	if err != nil {
		return err
	}
	a.sizes = b.Sizes(fsBytes)
	if a.events != nil {
		a.events.SetBudget(eventBudget(a.sizes, b))
	}
	if a.profiles != nil {
		a.profiles.SetMaxBytes(a.sizes.Profiles)
	}
	for _, r := range a.running {
		if r.limit != nil {
			r.limit.setBudget(b)
		}
	}
	a.logger.Info("disk budget", "data_dir", a.cfg.DataDir, "total_bytes", a.sizes.Total,
		"metrics_bytes", a.sizes.Metrics, "events_bytes", a.sizes.Events, "profiles_bytes", a.sizes.Profiles)
	return nil
}

// swapCollector starts collector n with the new configuration and, once
// it runs, stops the old instance; if the new one fails, the old one keeps
// running with its configuration.
func (a *Agent) swapCollector(n string, old *config.Config, statuses []Status, errs []error) ([]Status, []error) {
	st, r := a.startCollector(a.ctx, n)
	i := slices.IndexFunc(a.running, func(r *running) bool { return r.name == n })
	j := slices.IndexFunc(statuses, func(s Status) bool { return s.Name == n })
	if r == nil {
		errs = append(errs, fmt.Errorf("restarting %s: keeping the running one: %w", n, st.Err))
		a.cfg.Collectors[n] = old.Collectors[n]
		return statuses, errs
	}
	if i >= 0 {
		prev := a.running[i]
		prev.stopProfiles()
		if err := prev.c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the previous %s: %w", n, err))
		}
		a.pol.retired(prev.c)
		a.running[i] = r
	} else {
		a.running = append(a.running, r)
	}
	if j >= 0 {
		statuses[j] = st
	} else {
		statuses = append(statuses, st)
	}
	return statuses, errs
}
