package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/store"
)

// Prometheus's defaults for its rule manager and notifier
// (--rules.alert.for-outage-tolerance, --rules.alert.for-grace-period,
// --rules.alert.resend-delay, --alertmanager.notification-queue-capacity).
const (
	ruleOutageTolerance = time.Hour
	ruleForGracePeriod  = 10 * time.Minute
	ruleResendDelay     = time.Minute
	notifyQueueCapacity = 10000
)

// ruler evaluates the configured rule files with Prometheus's rule
// manager against the agent's metrics store: recording rules write their
// series there, alerting rules their ALERTS series, and alerts go to the
// configured Alertmanagers through Prometheus's notifier.
type ruler struct {
	logger   *slog.Logger
	manager  *rules.Manager
	notifier *notifier.Manager
	targets  chan map[string][]*targetgroup.Group
	reg      *prometheus.Registry
	storage  *ruleStorage
	url      string
	done     chan struct{} // the notifier's loop returned
	stopOnce sync.Once

	evals, evalFailures, missed *metrics.Desc
	sent, notifyErrors, dropped *metrics.Desc
	queue, alerts, refused      *metrics.Desc
}

// newRuler starts the rule manager and the notifier with cfg's rules; a
// rule file that does not load is an error (config.Load has checked them).
func newRuler(ctx context.Context, cfg *config.Config, engine promql.QueryEngine, st *store.Metrics, externalURL string, logger *slog.Logger) (*ruler, error) {
	r := &ruler{
		logger:  logger,
		targets: make(chan map[string][]*targetgroup.Group, 1),
		reg:     prometheus.NewRegistry(),
		storage: &ruleStorage{m: st},
		url:     externalURL,
		done:    make(chan struct{}),

		evals:        metrics.NewCounter("kscope_self_rule_evaluations_total", "Rule evaluations, by rule group (file;name).", "rule_group"),
		evalFailures: metrics.NewCounter("kscope_self_rule_evaluation_failures_total", "Rule evaluations that failed (the query, or storing a recording rule's samples), by rule group.", "rule_group"),
		missed:       metrics.NewCounter("kscope_self_rule_group_iterations_missed_total", "Rule group evaluations skipped because the previous one was still running.", "rule_group"),
		sent:         metrics.NewCounter("kscope_self_notifications_sent_total", "Alerts sent to each Alertmanager.", "alertmanager"),
		notifyErrors: metrics.NewCounter("kscope_self_notifications_errors_total", "Alerts that could not be sent to each Alertmanager.", "alertmanager"),
		dropped:      metrics.NewCounter("kscope_self_notifications_dropped_total", "Alerts dropped: the queue to the Alertmanagers was full, or no Alertmanager took them."),
		queue:        metrics.NewGauge("kscope_self_notifications_queue_length", "Alerts waiting to be sent to the Alertmanagers."),
		alerts:       metrics.NewGauge("kscope_self_alerts", "Active alerts of the agent's alerting rules, by state (pending, firing).", "state"),
		refused:      metrics.NewCounter("kscope_self_rule_samples_refused_total", "Samples of recording and alerting rules the metrics store refused: a new series while its series cap was reached."),
	}
	u, err := url.Parse(externalURL)
	if err != nil {
		return nil, fmt.Errorf("parsing the agent's URL: %w", err)
	}
	r.notifier = notifier.NewManager(&notifier.Options{
		QueueCapacity:   notifyQueueCapacity,
		DrainOnShutdown: true,
		ExternalLabels:  cfg.ExternalLabels,
		Registerer:      r.reg,
	}, model.UTF8Validation, quiet(logger.With("component", "notifier")))
	r.manager = rules.NewManager(&rules.ManagerOptions{
		NameValidationScheme: model.UTF8Validation,
		ExternalURL:          u,
		QueryFunc:            rules.EngineQueryFunc(engine, st),
		NotifyFunc:           rules.SendAlerts(r.notifier, externalURL),
		Context:              ctx,
		AppendableV2:         r.storage,
		Queryable:            st,
		Logger:               quiet(logger.With("component", "rules")),
		Registerer:           r.reg,
		OutageTolerance:      ruleOutageTolerance,
		ForGracePeriod:       ruleForGracePeriod,
		ResendDelay:          ruleResendDelay,
	})
	if err := r.apply(cfg); err != nil {
		r.notifier.Stop()
		return nil, err
	}
	go func() {
		defer close(r.done)
		r.notifier.Run(r.targets)
	}()
	go r.manager.Run()
	return r, nil
}

// apply loads cfg's rule files (groups that did not change keep their
// state: pending alerts stay pending) and points the notifier at cfg's
// Alertmanagers.
func (r *ruler) apply(cfg *config.Config) error {
	pc := &promconfig.Config{
		GlobalConfig:   promconfig.GlobalConfig{ExternalLabels: cfg.ExternalLabels, MetricNameValidationScheme: model.UTF8Validation},
		AlertingConfig: cfg.Rules.Alerting,
	}
	if err := r.notifier.ApplyConfig(pc); err != nil {
		return fmt.Errorf("configuring the alertmanagers: %w", err)
	}
	tgs := map[string][]*targetgroup.Group{}
	for k, am := range cfg.Rules.Alerting.AlertmanagerConfigs.ToMap() {
		var groups []*targetgroup.Group
		for i, sd := range am.ServiceDiscoveryConfigs {
			sc, ok := sd.(discovery.StaticConfig)
			if !ok {
				continue // config.Load refuses them
			}
			for j, g := range sc {
				g := *g
				g.Source = fmt.Sprintf("%d/%d", i, j)
				groups = append(groups, &g)
			}
		}
		tgs[k] = groups
	}
	// The newest target set replaces one the notifier has not read yet.
	select {
	case <-r.targets:
	default:
	}
	r.targets <- tgs
	if err := r.manager.Update(cfg.Rules.EvaluationInterval, cfg.Rules.Files, cfg.ExternalLabels, r.url, nil); err != nil {
		return fmt.Errorf("loading the rule files: %w", err)
	}
	return nil
}

// RuleGroups lists the rule groups the agent evaluates, sorted by file
// and name: what /api/v1/rules and /api/v1/alerts show.
func (a *Agent) RuleGroups() []*rules.Group {
	if a.ruler == nil {
		return nil
	}
	return a.ruler.RuleGroups()
}

// RuleGroups lists the rule groups, sorted by file and name.
func (r *ruler) RuleGroups() []*rules.Group { return r.manager.RuleGroups() }

// stop ends rule evaluation, then sends what the notifier holds; once.
func (r *ruler) stop() {
	r.stopOnce.Do(func() {
		r.manager.Stop()
		r.notifier.Stop()
		<-r.done
	})
}

func (r *ruler) describe() []*metrics.Desc {
	return []*metrics.Desc{r.evals, r.evalFailures, r.missed, r.sent, r.notifyErrors, r.dropped, r.queue, r.alerts, r.refused}
}

// collect reports the rule manager's and the notifier's counts as
// kscope_self_* metrics.
func (r *ruler) collect(e *metrics.Emitter) error {
	fams, err := r.reg.Gather()
	for _, f := range fams {
		var d *metrics.Desc
		label := ""
		switch f.GetName() {
		case "prometheus_rule_evaluations_total":
			d, label = r.evals, "rule_group"
		case "prometheus_rule_evaluation_failures_total":
			d, label = r.evalFailures, "rule_group"
		case "prometheus_rule_group_iterations_missed_total":
			d, label = r.missed, "rule_group"
		case "prometheus_notifications_sent_total":
			d, label = r.sent, "alertmanager"
		case "prometheus_notifications_errors_total":
			d, label = r.notifyErrors, "alertmanager"
		case "prometheus_notifications_dropped_total":
			d = r.dropped
		case "prometheus_notifications_queue_length":
			d = r.queue
		default:
			continue
		}
		for _, m := range f.GetMetric() {
			var vals []string
			if label != "" {
				vals = []string{labelValue(m, label)}
			}
			if d.Type == metrics.Counter {
				e.Counter(d, m.GetCounter().GetValue(), vals...)
			} else {
				e.Gauge(d, m.GetGauge().GetValue(), vals...)
			}
		}
	}
	var pending, firing int
	for _, ar := range r.manager.AlertingRules() {
		for _, a := range ar.ActiveAlerts() {
			switch a.State {
			case rules.StatePending:
				pending++
			case rules.StateFiring:
				firing++
			}
		}
	}
	e.Gauge(r.alerts, float64(pending), "pending")
	e.Gauge(r.alerts, float64(firing), "firing")
	e.Counter(r.refused, float64(r.storage.refused.Load()))
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	return nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// ruleStorage is where the rule manager writes: the metrics store's TSDB
// (the one open now: it is reopened after a failed write), under its
// series cap.
type ruleStorage struct {
	m       *store.Metrics
	refused atomic.Uint64
}

// errRuleSeriesLimit refuses a rule's new series at the series cap.
var errRuleSeriesLimit = errors.New("the metrics store is at its series cap (storage.max_series): a new series of a rule is refused")

// errStoreClosed is what appending gets while the metrics store is being
// reopened after a failed write.
var errStoreClosed = errors.New("the metrics store is being reopened after a failed write")

func (s *ruleStorage) AppenderV2(ctx context.Context) storage.AppenderV2 {
	db := s.m.DB()
	if db == nil {
		return failedAppender{errStoreClosed}
	}
	app := db.AppenderV2(ctx)
	ref, _ := app.(storage.GetRef)
	return &cappedAppender{AppenderV2: app, ref: ref, s: s, numSeries: db.Head().NumSeries}
}

// cappedAppender refuses samples of series the head does not hold while
// it holds the store's MaxSeries, as the store does with collections.
type cappedAppender struct {
	storage.AppenderV2
	ref       storage.GetRef
	s         *ruleStorage
	numSeries func() uint64
}

func (a *cappedAppender) Append(ref storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	if max := a.s.m.MaxSeries; ref == 0 && max > 0 && a.ref != nil && a.numSeries() >= max && !strings.HasPrefix(ls.Get(model.MetricNameLabel), store.SelfPrefix) {
		if r, _ := a.ref.GetRef(ls, ls.Hash()); r == 0 {
			a.s.refused.Add(1)
			return 0, errRuleSeriesLimit
		}
	}
	return a.AppenderV2.Append(ref, ls, st, t, v, h, fh, opts)
}

type failedAppender struct{ err error }

func (f failedAppender) Append(storage.SeriesRef, labels.Labels, int64, int64, float64, *histogram.Histogram, *histogram.FloatHistogram, storage.AppendV2Options) (storage.SeriesRef, error) {
	return 0, f.err
}
func (f failedAppender) Commit() error   { return f.err }
func (f failedAppender) Rollback() error { return nil }
