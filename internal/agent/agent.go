package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/storage"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/api"
	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/container"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/push"
	"github.com/kscope/kscope/internal/store"
)

// EventRingBytes is the ring buffer of each event-streaming collector in
// the agent: event rates there are those of execs, exits, connects and OOM
// kills, and the agent reads continuously.
const EventRingBytes = 512 << 10

// eventRingBytes is EventRingBytes; tests shrink it.
var eventRingBytes = EventRingBytes

// EventLatency is how long an event may wait in its ring buffer before the
// agent stores it: the reader also wakes whenever an eighth of the ring
// fills, so this only matters when events trickle in.
const EventLatency = 500 * time.Millisecond

// DefaultCollectors lists every collector the agent knows and whether it
// runs when the configuration does not say, as each collector's Spec
// declares it (collector.Spec.Default).
func DefaultCollectors() map[string]bool {
	known := map[string]bool{}
	for _, s := range collector.Agent() {
		known[s.Name] = s.Default
	}
	return known
}

// Sections is what the configuration knows of the agent's collectors, from
// the registry: names, defaults and options (config.Load, config.Parse).
func Sections() []config.Section {
	var out []config.Section
	for _, s := range collector.Agent() {
		out = append(out, config.Section{Name: s.Name, Default: s.Default, Options: s.Options})
	}
	return out
}

// Status is what happened when a collector was started.
type Status struct {
	Name  string
	Err   error // nil: running
	Took  time.Duration
	Notes []string // fallbacks taken and hooks skipped, as the collector logged them
}

// Agent is a running agent.
type Agent struct {
	cfg    *config.Config // guarded by mu once running: Reload replaces it
	ctx    context.Context
	opts   Options
	web    webSecurity
	logger *slog.Logger

	listener net.Listener
	server   *http.Server
	metrics  *store.Metrics
	events   *store.Events
	profiles *store.Profiles
	stats    *bpfStats // samples BPF run-time statistics in windows; nil: never

	sinks         *sinks           // where events, samples and profiles go
	exportSources []metrics.Source // the started exporters' self metrics
	profileErrors atomic.Uint64    // profile windows lost to a failed write

	api   *api.Server
	ruler *ruler // evaluates the rule files and sends alerts (rules.go)

	running  []*running
	statuses []Status
	sizes    config.Sizes // the stores' byte budgets
	self     *self
	ui       *agentUI       // the web UI's endpoints (live.go)
	pol      *policies      // the policies key's rules, their counts and alert outputs (policy.go)
	scripts  *scripts       // the probes key's scripts (probes.go)
	pushed   *push.Receiver // series kscope run --server pushes

	mu      sync.Mutex // one collection at a time
	emitter metrics.Emitter
	descs   []*metrics.Desc

	intervalChanged chan struct{} // Reload changed the interval

	lastIngest time.Time
	ingestErr  error
	ingestMu   sync.Mutex

	// When the series cap was last reported, and whether it was reached
	// at the last collection.
	limitWarned time.Time
	limitOn     bool
}

// headBlock is the metrics store's head block span (0: its default); tests
// shorten it.
var headBlock time.Duration

// LimitWarnEvery is how often, at most, the agent logs that the metrics
// store is at its series cap while it stays there.
const LimitWarnEvery = 5 * time.Minute

type running struct {
	name     string
	c        collector.Collector
	limit    *limiter         // nil under --check
	source   metrics.Source   // nil for event-only collectors
	profiles *profileRecorder // stores a profile source's windows; nil: none
	took     time.Duration    // last Collect
	failing  error
}

// Start prepares the host, opens the stores, binds the listen address and
// starts every enabled collector. A collector that cannot start is logged
// and reported in Statuses; the others run. Errors here are fatal: no
// privileges, the address in use, the data directory unusable.
func Start(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*Agent, error) {
	return StartWith(ctx, cfg, Options{}, logger)
}

// StartWith is Start with the settings that come from flags only.
func StartWith(ctx context.Context, cfg *config.Config, opts Options, logger *slog.Logger) (*Agent, error) {
	a := &Agent{cfg: cfg, ctx: ctx, opts: opts, logger: logger, intervalChanged: make(chan struct{}, 1)}
	var err error
	if a.web, err = loadWebConfig(opts.WebConfigFile); err != nil {
		return nil, err
	}
	// Privileges first: without them nothing else matters, and the data
	// directory may not even be readable.
	if _, err := bpfx.Prepare(); err != nil {
		return nil, err
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, listenError(cfg.Listen, err)
	}
	a.listener = ln
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	fsBytes, err := filesystemBytes(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a.sizes = cfg.Budget.Sizes(fsBytes)
	logger.Info("disk budget", "data_dir", cfg.DataDir, "total_bytes", a.sizes.Total,
		"metrics_bytes", a.sizes.Metrics, "events_bytes", a.sizes.Events, "profiles_bytes", a.sizes.Profiles)
	if a.metrics, err = store.OpenMetricsWith(cfg.DataDir, store.MetricsOptions{Retention: cfg.Retention, MaxBytes: a.sizes.Metrics, MaxSeries: uint64(max(cfg.Storage.MaxSeries, 0)), HeadBlock: headBlock}, quiet(logger)); err != nil {
		return nil, err
	}
	if a.events, err = store.OpenEvents(cfg.DataDir, cfg.Retention, cfg.EventQueue, logger); err != nil {
		return nil, err
	}
	a.events.SetBudget(eventBudget(a.sizes, cfg.Budget))
	if a.profiles, err = store.OpenProfiles(cfg.DataDir, cfg.Retention, logger); err != nil {
		return nil, err
	}
	a.profiles.SetMaxBytes(a.sizes.Profiles)
	a.sinks = &sinks{events: a.events, live: a.liveStream()}
	if cc := cfg.Containers; cc.Enabled {
		a.sinks.startEnrich(ctx, container.Options{
			DockerSocket: orNone(cc.DockerSocket), PodmanSocket: orNone(cc.PodmanSocket),
			ContainerdSocket: orNone(cc.ContainerdSocket), CRIOSocket: orNone(cc.CRIOSocket),
			MaxProcesses: cc.MaxProcesses, MaxContainers: cc.MaxContainers,
			Logger: logger.With("component", "containers"),
		})
	}
	rws, err := remoteWriters(cfg, logger)
	if err != nil {
		return nil, err
	}
	a.sinks.startExporters(ctx, append(slices.Clip(opts.Exporters), rws...), a)
	a.exportSources = a.sinks.exportSources()
	a.pol = newPolicies(logger)
	if err := a.pol.load(cfg); err != nil {
		return nil, fmt.Errorf("loading the policies: %w", err)
	}
	a.pol.configureHooks(cfg)
	a.scripts = &scripts{}
	if err := a.scripts.load(cfg); err != nil {
		return nil, err
	}
	a.startCollectors(ctx)
	a.startBPFStats()
	// Everything is loaded: the kernel's parsed BTF is no longer needed.
	bpfx.ReleaseKernelTypes()
	debug.FreeOSMemory() // a GC, and the freed pages back to the kernel: RSS
	setGCPercent()
	a.self = newSelf(a)
	a.pushed = &push.Receiver{Appendable: func() storage.Appendable {
		if db := a.metrics.DB(); db != nil {
			return db
		}
		return nil // being reopened after a failed write
	}}
	a.descs = a.describe()

	srv := &api.Server{
		Storage:  a.metrics,
		Events:   a.events,
		Profiles: a.profiles,
		Gatherer: a,
		Logger:   logger,
		Healthy:  a.healthy,
		Limits: api.Limits{
			Timeout:        cfg.Query.Timeout,
			MaxSamples:     cfg.Query.MaxSamples,
			MaxConcurrency: cfg.Query.MaxConcurrency,
			SubqueryStep:   cfg.Interval,
		},
		Degraded: a.degraded,
		Rules:    a,
		Write:    a.pushed,
	}
	a.api = srv
	a.newServer(ln, srv.Handler())
	if a.ruler, err = newRuler(ctx, cfg, srv.Engine(), a.metrics, a.URL(), logger); err != nil {
		return nil, err
	}
	a.descs = a.describe() // with the ruler's
	a.serveUI(srv)
	a.serve(ln)
	a.warnExposure(ln.Addr())
	ok = true
	return a, nil
}

// Check starts every enabled collector, reports each and closes them: what
// `kscope agent --check` does. It fails if any enabled collector failed.
func Check(ctx context.Context, cfg *config.Config, logger *slog.Logger) ([]Status, error) {
	if _, err := bpfx.Prepare(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, logger: logger, pol: newPolicies(logger), scripts: &scripts{}}
	if err := a.scripts.load(cfg); err != nil {
		return nil, err
	}
	if err := a.pol.load(cfg); err != nil {
		// Reported as the policy collector's failure; the others are checked.
		a.statuses = append(a.statuses, Status{Name: config.PolicyCollector, Err: fmt.Errorf("loading the policies: %w", oneLine{err})})
		c := *cfg
		c.Collectors = maps.Clone(cfg.Collectors)
		pc := c.Collectors[config.PolicyCollector]
		pc.Enabled = false
		c.Collectors[config.PolicyCollector] = pc
		a.cfg = &c
	}
	a.startCollectors(ctx)
	sort.Slice(a.statuses, func(i, j int) bool { return a.statuses[i].Name < a.statuses[j].Name })
	for _, r := range a.running {
		r.c.Close()
	}
	var failed []string
	for _, s := range a.statuses {
		if s.Err != nil {
			failed = append(failed, s.Name)
		}
	}
	if len(failed) > 0 {
		return a.statuses, fmt.Errorf("%d of %d collectors failed: %v", len(failed), len(a.statuses), failed)
	}
	return a.statuses, nil
}

func listenError(addr string, err error) error {
	if errors.Is(err, unix.EADDRINUSE) {
		return fmt.Errorf("listen address %s is already in use (another kscope agent? choose one with --listen)", addr)
	}
	return fmt.Errorf("listening on %s: %w", addr, err)
}

// quiet keeps the TSDB's routine info logs out of the agent's output.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{l.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(as), f.min}
}

func (f levelFilter) WithGroup(g string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(g), f.min}
}

// startBPFStats samples the running collectors' BPF programs' run count
// and run time in windows (bpfstats.go), unless the configuration says
// never.
func (a *Agent) startBPFStats() {
	if a.cfg.BPFStatsWindow <= 0 || a.cfg.BPFStatsEvery <= a.cfg.BPFStatsWindow {
		return
	}
	var progs []statProg
	for _, r := range a.running {
		cl, ok := r.c.(collectioner)
		if !ok || cl.Collection() == nil {
			continue
		}
		for name, p := range cl.Collection().Programs {
			progs = append(progs, statProg{statKey{r.name, name}, p})
		}
	}
	// The probes collector's scripts: one collection each.
	for _, r := range a.running {
		if ps, ok := r.c.(programSet); ok {
			for name, p := range ps.Programs() {
				progs = append(progs, statProg{statKey{r.name, name}, p})
			}
		}
	}
	// The syscall dispatcher's entry programs, shared by collectors: their
	// runs include the collectors' programs they tail-call.
	for k, p := range bpfx.SharedPrograms() {
		progs = append(progs, statProg{statKey{k.Owner, k.Program}, p})
	}
	a.stats = newBPFStats(a.cfg.BPFStatsWindow, a.cfg.BPFStatsEvery, progs, a.logger)
	a.stats.start()
}

// restartBPFStats samples the programs of the collectors running now, with
// the window configured now: after a reload started or stopped some. The
// totals carry over, so the counters keep growing.
func (a *Agent) restartBPFStats() {
	old := a.stats
	if old != nil {
		old.Close()
	}
	a.stats = nil
	a.startBPFStats()
	if old != nil && a.stats != nil {
		a.stats.inherit(old)
	}
}

func (a *Agent) startCollectors(ctx context.Context) {
	for _, name := range a.cfg.Enabled() {
		st, r := a.startCollector(ctx, name)
		a.statuses = append(a.statuses, st)
		if r != nil {
			a.running = append(a.running, r)
		}
	}
}

// startCollector starts one enabled collector; r is nil when it failed.
func (a *Agent) startCollector(ctx context.Context, name string) (st Status, r *running) {
	cc := a.cfg.Collectors[name]
	topk := cc.TopK
	if topk == 0 {
		topk = a.cfg.TopK
	}
	notes := &noteHandler{}
	logger := slog.New(teeHandler{a.logger.Handler(), notes})
	// A process gets per-pid series once two collections saw it alive:
	// short-lived ones count per command name.
	ccfg := collector.Config{TopK: topk, MinLive: 2, RingBytes: eventRingBytes, Latency: EventLatency, Logger: logger}
	start := time.Now()
	c, err := collector.NewWith(name, ccfg, cc.Options)
	var limit *limiter
	if err == nil {
		var sink eventSink
		sink, limit = a.sinks.chain(a.cfg.Budget) // --check: nothing stored
		if name == config.PolicyCollector {
			sink = a.pol.tap(sink, cc.Options) // every alert, before the budget's rate limits
		}
		if err = c.Start(ctx, sink); err != nil {
			c.Close()
		}
	}
	st = Status{Name: name, Err: err, Took: time.Since(start), Notes: notes.list()}
	if err != nil {
		a.logger.Warn("collector not started; the others run", "collector", name, "err", err)
		return st, nil
	}
	a.logger.Debug("collector started", "collector", name, "took", st.Took)
	if name == config.PolicyCollector {
		a.pol.started(c, cc.Options)
	}
	r = &running{name: name, c: c, limit: limit}
	if src, ok := c.(metrics.Source); ok {
		r.source = a.sinks.labelSource(src)
	}
	a.startProfiles(r)
	return st, r
}

// Statuses reports how each enabled collector started.
func (a *Agent) Statuses() []Status { return a.statuses }

// Addr is the address the agent serves on.
func (a *Agent) Addr() net.Addr { return a.listener.Addr() }

func (a *Agent) describe() []*metrics.Desc {
	var ds []*metrics.Desc
	for _, r := range a.running {
		if r.source != nil {
			ds = append(ds, r.source.Describe()...)
		}
	}
	ds = append(ds, a.self.describe()...)
	ds = append(ds, a.pol.describe()...)
	if a.pushed != nil {
		ds = append(ds, a.pushed.Describe()...)
	}
	for _, src := range a.exportSources {
		ds = append(ds, src.Describe()...)
	}
	if a.ruler != nil {
		ds = append(ds, a.ruler.describe()...)
	}
	ds = dedupDescs(ds) // shared families (metrics.MapDrops) are described by each user
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	return ds
}

// dedupDescs drops repeated descriptors, keeping the first of each.
func dedupDescs(ds []*metrics.Desc) []*metrics.Desc {
	seen := make(map[*metrics.Desc]bool, len(ds))
	out := ds[:0]
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// Gather reads every collector's current values (and the agent's own).
// The samples are valid until the next Gather.
func (a *Agent) Gather(ctx context.Context) ([]*metrics.Desc, []metrics.Sample, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gatherLocked()
}

func (a *Agent) gatherLocked() ([]*metrics.Desc, []metrics.Sample, error) {
	a.emitter.Reset()
	var errs []error
	for _, r := range a.running {
		if r.source == nil {
			continue
		}
		start := time.Now()
		err := r.source.Collect(&a.emitter)
		r.took = time.Since(start)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
		}
		r.failing = err
	}
	a.self.collect(&a.emitter)
	a.pol.collect(&a.emitter)
	if a.pushed != nil {
		a.pushed.Collect(&a.emitter)
	}
	for _, src := range a.exportSources {
		if err := src.Collect(&a.emitter); err != nil {
			errs = append(errs, err)
		}
	}
	if a.ruler != nil {
		if err := a.ruler.collect(&a.emitter); err != nil {
			errs = append(errs, err)
		}
	}
	return a.descs, a.emitter.Samples, errors.Join(errs...)
}

// Run stores a collection every interval until ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	t := time.NewTicker(a.interval())
	defer t.Stop()
	a.Ingest(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.intervalChanged:
			t.Reset(a.interval())
		case <-t.C:
			a.Ingest(ctx)
		}
	}
}

// Ingest collects once and appends the samples to the metrics store.
func (a *Agent) Ingest(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, samples, err := a.gatherLocked()
	if err != nil {
		a.logger.Warn("collecting", "err", err)
	}
	now := time.Now()
	err = a.metrics.Append(ctx, now, samples)
	if err != nil {
		a.logger.Error("storing samples", "err", err)
	}
	a.sinks.reportMetrics(now, a.descs, samples)
	a.ingestMu.Lock()
	a.lastIngest, a.ingestErr = now, err
	a.ingestMu.Unlock()
	a.reportLimit(now)
	return err
}

// reportLimit logs the series cap: a WARN when the metrics store reaches
// it and every LimitWarnEvery while it stays there, an INFO when it is
// left.
func (a *Agent) reportLimit(now time.Time) {
	on := a.metrics.LimitReached()
	switch {
	case on && (!a.limitOn || now.Sub(a.limitWarned) >= LimitWarnEvery):
		a.limitWarned = now
		a.logger.Warn("the metrics store is at its series cap: samples of new series are refused",
			"head_series", a.metrics.HeadSeries(), "max_series", a.metrics.MaxSeries,
			"refused_samples", a.metrics.Limited(), "see", "storage.max_series")
	case !on && a.limitOn:
		a.logger.Info("the metrics store is below its series cap again", "head_series", a.metrics.HeadSeries(), "max_series", a.metrics.MaxSeries)
	}
	a.limitOn = on
}

// health is the agent's state, as /healthz and the status say it.
func (a *Agent) health() health {
	if err := a.healthy(); err != nil {
		return health{"unhealthy", []string{err.Error()}}
	}
	if why := a.degraded(); len(why) > 0 {
		return health{"degraded", why}
	}
	return health{"ok", []string{}}
}

// degraded lists why the agent, still serving, is not doing all its job.
func (a *Agent) degraded() []string {
	var why []string
	if m := a.metrics; m != nil && m.LimitReached() {
		why = append(why, fmt.Sprintf("series limit reached: the metrics store holds %d series (storage.max_series %d), samples of new series are refused",
			m.HeadSeries(), m.MaxSeries))
	}
	return why
}

func (a *Agent) healthy() error {
	interval := a.interval()
	a.ingestMu.Lock()
	defer a.ingestMu.Unlock()
	if a.ingestErr != nil {
		return fmt.Errorf("storing samples: %w", a.ingestErr)
	}
	if !a.lastIngest.IsZero() && time.Since(a.lastIngest) > 3*interval+10*time.Second {
		return fmt.Errorf("no collection for %s", time.Since(a.lastIngest).Round(time.Second))
	}
	return nil
}

// Close stops serving, detaches the collectors (their last events reach
// the event store) and closes the stores.
func (a *Agent) Close() error {
	var errs []error
	if a.api != nil {
		a.api.CancelQueries() // a running query does not hold the shutdown
	}
	if a.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, a.server.Shutdown(ctx))
		cancel()
	} else if a.listener != nil {
		a.listener.Close()
	}
	if a.ruler != nil {
		a.ruler.stop() // before the store it reads and writes closes
	}
	if a.stats != nil {
		a.stats.Close() // before the programs it reads close
	}
	for _, r := range a.running {
		r.stopProfiles() // the last window is stored before the profiler closes
	}
	for i := len(a.running) - 1; i >= 0; i-- {
		errs = append(errs, a.running[i].c.Close())
	}
	a.running = nil
	if a.pol != nil { // the last alerts are queued: the webhooks get a bounded time to send them
		ctx, cancel := context.WithTimeout(context.Background(), policyStopWait)
		a.pol.close(ctx)
		cancel()
	}
	errs = append(errs, a.sinks.stopExporters()) // after the collectors' last events
	a.sinks.stopEnrich()
	if a.events != nil {
		errs = append(errs, a.events.Close())
	}
	if a.profiles != nil {
		errs = append(errs, a.profiles.Close())
	}
	if a.metrics != nil {
		errs = append(errs, a.metrics.Close())
	}
	return errors.Join(errs...)
}
