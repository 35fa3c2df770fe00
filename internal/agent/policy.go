package agent

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/policy"
)

// Alerts written to the agent's log: alertLogRate a second, in bursts of
// alertLogBurst; beyond, they are counted in
// kscope_self_alerts_log_suppressed_total (and still stored and sent).
const (
	alertLogRate  = 10
	alertLogBurst = 100
)

// policies is the agent's side of kscope policy: it loads the files of the
// policies key into the policy collector's options, counts the matches
// across reloads, and sends each alert to the log and the webhooks.
type policies struct {
	logger                    *slog.Logger
	am                        alertMetrics
	matchesDesc, failuresDesc *metrics.Desc

	mu      sync.Mutex
	key     string                  // what the running rules were loaded from: files, contents, audit
	set     *policy.Set             // the rules of key
	runs    map[counter]*policy.Set // the running policy collectors (two while a reload swaps them) and their rules
	carried map[matchKey]uint64
	hooks   map[string]*webhook // by webhookKey
	global  *webhook            // alerts.webhook; nil: none
	queue   int                 // alerts.queue, for the webhooks started next

	failures      atomic.Uint64
	logLimit      *rate.Limiter
	logSuppressed atomic.Uint64
}

type matchKey struct{ policy, rule, action, mode string }

// counter is what the policy collector tells of its matches: per plan of
// its set, in order, exact (counted in the kernel).
type counter interface{ Counts() []uint64 }

func newPolicies(logger *slog.Logger) *policies {
	return &policies{
		logger:       logger,
		am:           newAlertMetrics(),
		matchesDesc:  metrics.NewCounter("kscope_policy_matches_total", "Matches of each policy rule, counted in the kernel: policy is the rule's file, action the action taken (after fallbacks; in audit mode, the one that would have been), mode enforce or audit.", "policy", "rule", "action", "mode"),
		failuresDesc: metrics.NewCounter("kscope_policy_enforcement_failures_total", "Matches of enforce-mode kill and deny rules whose action the kernel could not carry out (the alert's outcome says why)."),
		carried:      map[matchKey]uint64{},
		hooks:        map[string]*webhook{},
		runs:         map[counter]*policy.Set{},
		logLimit:     rate.NewLimiter(alertLogRate, alertLogBurst),
	}
}

// policyFiles expands the policies key: a directory stands for its *.yaml
// and *.yml files, in name order.
func policyFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("policies: %s: %w", p, err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		var in []string
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, err := filepath.Glob(filepath.Join(p, pat))
			if err != nil {
				return nil, fmt.Errorf("policies: %s: %w", p, err)
			}
			in = append(in, m...)
		}
		if len(in) == 0 {
			return nil, fmt.Errorf("policies: %s: no policy files (*.yaml, *.yml) in the directory", p)
		}
		slices.Sort(in)
		files = append(files, in...)
	}
	return files, nil
}

// fingerprint identifies the files' contents and the audit setting.
func fingerprint(files []string, audit bool) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "audit=%t\x00", audit)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", f, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(data))
		h.Write(data)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// probed answers the plans' feature questions with bpfx's probes, once
// each.
func probed() policy.Features {
	seen := map[string]error{}
	return func(name string) error {
		if err, ok := seen[name]; ok {
			return err
		}
		err := policy.WithTracepoints(bpfx.ProbeFeature)(name)
		seen[name] = err
		return err
	}
}

// load reads and plans the rules cfg's policies key lists, when the policy
// collector is enabled, into its options. Rules whose files did not change
// keep their Set, so a reload leaves their collector running. On an error
// (file:line:col for each wrong key) cfg keeps the running rules, if any.
func (p *policies) load(cfg *config.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cc, ok := cfg.Collectors[config.PolicyCollector]
	if !ok || !cc.Enabled || len(cfg.Policies) == 0 {
		return nil
	}
	opts, _ := cc.Options.(policy.AgentOptions)
	keep := func(err error) error {
		opts.Set = p.set
		cc.Options = opts
		cfg.Collectors[config.PolicyCollector] = cc
		return err
	}
	files, err := policyFiles(cfg.Policies)
	if err != nil {
		return keep(err)
	}
	key, err := fingerprint(files, opts.Audit)
	if err != nil {
		return keep(err)
	}
	if key == p.key && p.set != nil {
		return keep(nil)
	}
	rules, err := policy.Load(files)
	if err != nil {
		return keep(err)
	}
	plans, err := policy.PlanRules(rules, probed(), opts.Audit)
	if err != nil {
		return keep(err)
	}
	set := &policy.Set{Plans: plans}
	if t := policy.Compile(plans); t.NeedsCgroup() {
		if set.Cgroup, err = bpfx.Cgroup2Root(); err != nil {
			return keep(fmt.Errorf("policies: connect, bind and sendmsg rules need the cgroup v2 hierarchy: %w", err))
		}
	}
	for _, pl := range plans {
		if pl.Fallback != "" {
			p.logger.Warn("policy rule falls back", "rule", pl.Rule.Name, "at", pl.Rule.Pos.String(), "plan", pl.Describe())
		}
	}
	p.key, p.set = key, set
	return keep(nil)
}

// configureHooks starts the webhooks cfg and the loaded rules name and
// stops those no longer named.
func (p *policies) configureHooks(cfg *config.Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = cfg.Alerts.Queue
	want := map[string]config.Webhook{}
	if w := cfg.Alerts.Webhook; w != nil {
		want[webhookKey(*w)] = *w
	}
	if run := p.set; run != nil {
		for _, pl := range run.Plans {
			if w := pl.Rule.Webhook; w != nil {
				cw := config.Webhook{URL: w.URL, Headers: w.Headers, Timeout: w.Timeout}
				want[webhookKey(cw)] = cw
			}
		}
	}
	for k, w := range p.hooks {
		if _, ok := want[k]; !ok {
			delete(p.hooks, k)
			go w.close(context.Background()) // delivers what it holds: bounded by attempts
		}
	}
	for k, w := range want {
		if p.hooks[k] == nil {
			p.hooks[k] = newWebhook(w, p.queue, p.logger)
		}
	}
	p.global = nil
	if w := cfg.Alerts.Webhook; w != nil {
		p.global = p.hooks[webhookKey(*w)]
	}
}

// tap is the policy collector's sink: each alert goes to the log and its
// webhook, then on to next.
func (p *policies) tap(next eventSink, opts any) eventSink {
	o, _ := opts.(policy.AgentOptions)
	t := &alertTap{p: p, next: next, rules: map[string]*policy.Rule{}}
	if o.Set != nil {
		for _, pl := range o.Set.Plans {
			t.rules[pl.Rule.Name] = pl.Rule
		}
	}
	return t
}

// started records the running policy collector.
func (p *policies) started(c any, opts any) {
	o, _ := opts.(policy.AgentOptions)
	cn, ok := c.(counter)
	if !ok || o.Set == nil {
		return
	}
	p.mu.Lock()
	p.runs[cn] = o.Set
	p.mu.Unlock()
}

// retired carries a closed policy collector's final counts over, so the
// counters keep counting across reloads.
func (p *policies) retired(c any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cn, ok := c.(counter)
	if !ok || p.runs[cn] == nil {
		return
	}
	set := p.runs[cn]
	for i, n := range cn.Counts() {
		p.carried[keyOf(set.Plans[i])] += n
	}
	delete(p.runs, cn)
}

func keyOf(pl *policy.Plan) matchKey {
	mode := "enforce"
	if !pl.Enforce {
		mode = "audit"
	}
	return matchKey{pl.Rule.Pos.File, pl.Rule.Name, pl.Action, mode}
}

func (p *policies) describe() []*metrics.Desc {
	return append([]*metrics.Desc{p.matchesDesc, p.failuresDesc}, p.am.describe()...)
}

func (p *policies) collect(e *metrics.Emitter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	counts := map[matchKey]uint64{}
	for k, v := range p.carried {
		counts[k] = v
	}
	for cn, set := range p.runs {
		for i, n := range cn.Counts() {
			counts[keyOf(set.Plans[i])] += n
		}
	}
	for k, v := range counts {
		e.Counter(p.matchesDesc, float64(v), k.policy, k.rule, k.action, k.mode)
	}
	e.Counter(p.failuresDesc, float64(p.failures.Load()))
	for _, w := range p.hooks {
		w.collect(p.am, e)
	}
	e.Counter(p.am.logSuppressed, float64(p.logSuppressed.Load()))
}

// close stops the webhooks, allowing them until ctx is done.
func (p *policies) close(ctx context.Context) {
	p.mu.Lock()
	hooks := p.hooks
	p.hooks = map[string]*webhook{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range hooks {
		wg.Go(func() { w.close(ctx) })
	}
	wg.Wait()
}

// alertTap sends one policy collector's alerts to the log and the webhooks.
type alertTap struct {
	p     *policies
	next  eventSink
	rules map[string]*policy.Rule // the collector's rules, by name
}

// alertFields are the alert's fields the log and the counters read.
type alertFields struct {
	PID         uint32 `json:"pid"`
	UID         uint32 `json:"uid"`
	Comm        string `json:"comm"`
	Rule        string `json:"rule"`
	Severity    string `json:"severity"`
	Action      string `json:"action"`
	Mode        string `json:"mode"`
	Outcome     string `json:"outcome"`
	Binary      string `json:"binary"`
	File        string `json:"file"`
	Destination string `json:"destination"`
}

// failed reports whether an enforce-mode action did not happen.
func (f *alertFields) failed() bool {
	return f.Mode == "enforce" && f.Action != "alert" && (strings.HasPrefix(f.Outcome, "kill failed") || f.Outcome == "not acted")
}

func (t *alertTap) Emit(ev event.Event) {
	if ev.Hdr().Type == policy.AlertKind.Name {
		t.alert(ev)
	}
	t.next.Emit(ev)
}

func (t *alertTap) Flush() { t.next.Flush() }

func (t *alertTap) alert(ev event.Event) {
	body := event.AppendJSON(nil, ev)
	var f alertFields
	if err := json.Unmarshal(body, &f); err != nil {
		return
	}
	p := t.p
	if f.failed() {
		p.failures.Add(1)
	}
	if p.logLimit.Allow() {
		attrs := []any{"rule", f.Rule, "severity", f.Severity, "action", f.Action, "mode", f.Mode, "outcome", f.Outcome,
			"pid", f.PID, "uid", f.UID, "comm", f.Comm}
		for _, kv := range [][2]string{{"binary", f.Binary}, {"file", f.File}, {"destination", f.Destination}} {
			if kv[1] != "" {
				attrs = append(attrs, kv[0], kv[1])
			}
		}
		p.logger.Warn("policy alert", attrs...)
	} else {
		p.logSuppressed.Add(1)
	}
	if w := t.webhook(f.Rule); w != nil {
		w.enqueue(body)
	}
}

// webhook is where the rule's alerts go: its file's webhook, else the
// agent's.
func (t *alertTap) webhook(rule string) *webhook {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := t.rules[rule]; r != nil && r.Webhook != nil {
		if w := p.hooks[webhookKey(config.Webhook{URL: r.Webhook.URL, Headers: r.Webhook.Headers, Timeout: r.Webhook.Timeout})]; w != nil {
			return w
		}
	}
	return p.global
}

// policyStopWait bounds how long the webhooks may take to deliver what
// they hold when the agent stops.
const policyStopWait = 5 * time.Second

// oneLine is an error of several lines (every error of the policy files)
// on one, for --check's table.
type oneLine struct{ error }

func (e oneLine) Error() string { return strings.ReplaceAll(e.error.Error(), "\n", "; ") }

func (e oneLine) Unwrap() error { return e.error }
