package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/store"
	"github.com/kscope/kscope/internal/version"
)

// Gatherer returns the current value of every series and every family's
// description, for /metrics.
type Gatherer interface {
	Gather(ctx context.Context) ([]*metrics.Desc, []metrics.Sample, error)
}

// Server is the agent's HTTP API.
type Server struct {
	Storage  storage.Queryable
	Events   *store.Events
	Profiles *store.Profiles
	Gatherer Gatherer
	Logger   *slog.Logger
	// Healthy reports problems that make the agent unhealthy; nil is ok.
	Healthy func() error
	// Degraded lists why an agent that still serves is not doing all its
	// job (the metrics store at its series cap); none is ok.
	Degraded func() []string
	// UI holds the web UI's sources (ui.go).
	UI UI
	// Limits bound the queries (limit.go).
	Limits Limits
	// Rules are the rule groups /api/v1/rules and /api/v1/alerts list
	// (rules.go); nil: none.
	Rules RuleGroups
	// Write receives pushed series at POST /api/v1/write (package push);
	// nil: 404.
	Write http.Handler

	limits   Limits // with defaults
	engine   *promql.Engine
	parser   parser.Parser
	promGate *gate
	evGate   *gate
	profGate *gate
	// stopping ends every query's context (CancelQueries).
	stopping context.Context
	stop     context.CancelFunc
}

// lookback is how far back an instant vector selector looks for a sample,
// as Prometheus's default.
const lookback = 5 * time.Minute

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	s.limits = s.Limits.withDefaults()
	s.stopping, s.stop = context.WithCancel(context.Background())
	s.parser = parser.NewParser(parser.Options{})
	s.engine = promql.NewEngine(promql.EngineOpts{
		Logger:                   s.Logger,
		MaxSamples:               s.limits.MaxSamples,
		Timeout:                  s.limits.Timeout,
		LookbackDelta:            lookback,
		Parser:                   s.parser,
		NoStepSubqueryIntervalFn: s.subqueryStep,
	})
	s.promGate = newGate(APIPromQL, s.limits.MaxConcurrency)
	s.evGate = newGate(APIEvents, min(s.limits.MaxConcurrency, MaxStoreConcurrency))
	s.profGate = newGate(APIProfile, min(s.limits.MaxConcurrency, MaxStoreConcurrency))
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", s.metrics)
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/api/v1/query", counted(s.promGate, s.query))
	mux.HandleFunc("/api/v1/query_range", counted(s.promGate, s.queryRange))
	mux.HandleFunc("/api/v1/series", s.series)
	mux.HandleFunc("/api/v1/labels", s.labelNames)
	mux.HandleFunc("/api/v1/label/{name}/values", s.labelValues)
	mux.HandleFunc("/api/v1/metadata", s.metadata)
	mux.HandleFunc("/api/v1/status/buildinfo", s.buildinfo)
	mux.HandleFunc("/api/v1/query_exemplars", func(w http.ResponseWriter, r *http.Request) {
		writeData(w, []byte("[]"), nil)
	})
	mux.HandleFunc("/api/v1/events", counted(s.evGate, s.events))
	mux.HandleFunc("/api/v1/events/rate", counted(s.evGate, s.eventRate))
	mux.HandleFunc("/api/v1/profile", counted(s.profGate, s.profile))
	mux.HandleFunc("/api/v1/kinds", s.kinds)
	mux.HandleFunc("/api/v1/rules", s.rules)
	mux.HandleFunc("/api/v1/alerts", s.alerts)
	if s.Write != nil {
		mux.Handle("/api/v1/write", s.Write)
	}
	s.uiRoutes(mux)
	return mux
}

// QueryStats reports, per query API, the queries running and waiting and
// what became of those answered.
func (s *Server) QueryStats() []QueryStats {
	return []QueryStats{s.promGate.stats(), s.evGate.stats(), s.profGate.stats()}
}

// subqueryStep is the step of a subquery without one, in ms.
func (s *Server) subqueryStep(int64) int64 { return s.limits.SubqueryStep.Milliseconds() }

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	descs, samples, err := s.Gatherer.Gather(r.Context())
	if err != nil {
		s.Logger.Warn("collecting for /metrics", "err", err)
	}
	w.Header().Set("Content-Type", metrics.ContentType)
	metrics.WriteText(w, descs, samples)
}

// healthz answers 503 and the reason when the agent is unhealthy (samples
// fail to store, collection stalled): restarting it may help. A degraded
// agent still serves and stores what it can, and a restart would not help
// (the head replays from the WAL): it answers 200, as Prometheus's
// /-/healthy does for a live server, with a body that starts "degraded:"
// and gives one reason a line, for checks that read the body.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.Healthy != nil {
		if err := s.Healthy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.Degraded != nil {
		if why := s.Degraded(); len(why) > 0 {
			io.WriteString(w, "degraded: "+strings.Join(why, "\ndegraded: ")+"\n")
			return
		}
	}
	io.WriteString(w, "ok\n")
}

// apiError is an error in the Prometheus API's shape.
type apiError struct {
	typ  string // bad_data, execution, timeout, canceled, internal
	code int
	err  error
}

func badData(format string, a ...any) *apiError {
	return &apiError{"bad_data", http.StatusBadRequest, fmt.Errorf(format, a...)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	if rec, ok := w.(*recorder); ok {
		rec.result = e.typ
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.code)
	b := []byte(`{"status":"error","errorType":`)
	b = event.AppendString(b, e.typ)
	b = append(b, `,"error":`...)
	b = event.AppendString(b, e.err.Error())
	b = append(b, "}\n"...)
	w.Write(b)
}

// writeData writes a success response around data, raw JSON.
func writeData(w http.ResponseWriter, data []byte, warnings []string) {
	w.Header().Set("Content-Type", "application/json")
	b := make([]byte, 0, len(data)+64)
	b = append(b, `{"status":"success","data":`...)
	b = append(b, data...)
	if len(warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, wn := range warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = event.AppendString(b, wn)
		}
		b = append(b, ']')
	}
	b = append(b, "}\n"...)
	w.Write(b)
}

func form(r *http.Request) *apiError {
	if err := r.ParseForm(); err != nil {
		return badData("parsing the form: %v", err)
	}
	return nil
}

// parseTime accepts Unix seconds (with a fraction) and RFC 3339.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsInf(t, 0) || math.IsNaN(t) || t > 1e15 || t < -1e15 {
			return time.Time{}, fmt.Errorf("time %q out of range", s)
		}
		// Timestamps are milliseconds: round there, as Prometheus does, so
		// that 1796523810.646 (a float just below it) is that millisecond.
		sec, frac := math.Modf(t)
		return time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

func timeParam(r *http.Request, name string, def time.Time) (time.Time, *apiError) {
	v := r.Form.Get(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, badData("invalid parameter %q: %v", name, err)
	}
	return t, nil
}

// parseDuration accepts seconds (with a fraction) and Prometheus durations.
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		// 2^63 itself overflows, and NaN compares false to everything.
		ts := d * float64(time.Second)
		if !(ts < 1<<63 && ts > -(1<<63)) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration: overflows", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	if e := form(r); e != nil {
		writeError(w, e)
		return
	}
	ts, e := timeParam(r, "time", time.Now())
	if e != nil {
		writeError(w, e)
		return
	}
	ctx, cancel, e := s.queryContext(r)
	if e != nil {
		writeError(w, e)
		return
	}
	defer cancel()
	qs := r.Form.Get("query")
	if qs == "" {
		writeError(w, badData("missing parameter \"query\""))
		return
	}
	ms := ts.UnixMilli()
	if err := checkQuery(s.parser, qs, evalRange{ms, ms, 0}, s.subqueryStep); err != nil {
		writeError(w, badData("invalid parameter \"query\": %v", err))
		return
	}
	s.run(ctx, w, func() (promql.Query, error) {
		return s.engine.NewInstantQuery(ctx, s.Storage, nil, qs, ts)
	})
}

func (s *Server) queryRange(w http.ResponseWriter, r *http.Request) {
	if e := form(r); e != nil {
		writeError(w, e)
		return
	}
	for _, p := range []string{"query", "start", "end", "step"} {
		if r.Form.Get(p) == "" {
			writeError(w, badData("missing parameter %q", p))
			return
		}
	}
	start, e := timeParam(r, "start", time.Time{})
	if e != nil {
		writeError(w, e)
		return
	}
	end, e := timeParam(r, "end", time.Time{})
	if e != nil {
		writeError(w, e)
		return
	}
	if end.Before(start) {
		writeError(w, badData("invalid parameter \"end\": end timestamp must not be before start time"))
		return
	}
	step, err := parseDuration(r.Form.Get("step"))
	if err != nil {
		writeError(w, badData("invalid parameter \"step\": %v", err))
		return
	}
	if step <= 0 {
		writeError(w, badData("zero or negative query resolution step widths are not accepted. Try a positive integer"))
		return
	}
	if end.Sub(start)/step > MaxPoints {
		writeError(w, badData("exceeded maximum resolution of %d points per timeseries. Try decreasing the query resolution (?step=XX)", MaxPoints))
		return
	}
	ctx, cancel, e := s.queryContext(r)
	if e != nil {
		writeError(w, e)
		return
	}
	defer cancel()
	qs := r.Form.Get("query")
	if err := checkQuery(s.parser, qs, evalRange{start.UnixMilli(), end.UnixMilli(), max(step.Milliseconds(), 1)}, s.subqueryStep); err != nil {
		writeError(w, badData("invalid parameter \"query\": %v", err))
		return
	}
	s.run(ctx, w, func() (promql.Query, error) {
		return s.engine.NewRangeQuery(ctx, s.Storage, nil, qs, start, end, step)
	})
}

// run evaluates the query newQuery prepares once a slot is free.
func (s *Server) run(ctx context.Context, w http.ResponseWriter, newQuery func() (promql.Query, error)) {
	if e := s.promGate.enter(ctx); e != nil {
		writeError(w, e)
		return
	}
	defer s.promGate.leave()
	q, err := newQuery()
	if err != nil {
		writeError(w, badData("invalid parameter \"query\": %v", err))
		return
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		writeError(w, queryError(res.Err))
		return
	}
	writeData(w, appendValue(nil, res.Value), warnings(res.Warnings))
}

func queryError(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		st       promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &apiError{"canceled", 499, err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{"timeout", http.StatusServiceUnavailable, err}
	case errors.As(err, &st):
		return &apiError{"internal", http.StatusInternalServerError, err}
	}
	return &apiError{"execution", http.StatusUnprocessableEntity, err}
}

func warnings(a annotations.Annotations) []string {
	var out []string
	for _, err := range a {
		out = append(out, err.Error())
	}
	return out
}

// selectors parses the match[] parameters.
func (s *Server) selectors(r *http.Request, required bool) ([][]*labels.Matcher, *apiError) {
	ms := r.Form["match[]"]
	if len(ms) == 0 && required {
		return nil, badData("no match[] parameter provided")
	}
	var sets [][]*labels.Matcher
	for _, m := range ms {
		set, err := s.parser.ParseMetricSelector(m)
		if err != nil {
			return nil, badData("invalid parameter \"match[]\": %v", err)
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// window reads start and end, defaulting to all time.
func window(r *http.Request) (int64, int64, *apiError) {
	start, e := timeParam(r, "start", time.UnixMilli(math.MinInt64/2))
	if e != nil {
		return 0, 0, e
	}
	end, e := timeParam(r, "end", time.UnixMilli(math.MaxInt64/2))
	if e != nil {
		return 0, 0, e
	}
	return start.UnixMilli(), end.UnixMilli(), nil
}

func limitParam(r *http.Request) (int, *apiError) {
	v := r.Form.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badData("invalid parameter \"limit\": want a non-negative integer")
	}
	return n, nil
}

// metaRequest is what /series and the label endpoints read: match[]
// selectors, the start-end window, limit, and a querier over the window
// (the caller closes it).
type metaRequest struct {
	q          storage.Querier
	sets       [][]*labels.Matcher
	mint, maxt int64
	limit      int
}

func (s *Server) metaRequest(r *http.Request, matchRequired bool) (*metaRequest, *apiError) {
	if e := form(r); e != nil {
		return nil, e
	}
	sets, e := s.selectors(r, matchRequired)
	if e != nil {
		return nil, e
	}
	mint, maxt, e := window(r)
	if e != nil {
		return nil, e
	}
	limit, e := limitParam(r)
	if e != nil {
		return nil, e
	}
	q, err := s.Storage.Querier(mint, maxt)
	if err != nil {
		return nil, &apiError{"internal", http.StatusInternalServerError, err}
	}
	return &metaRequest{q, sets, mint, maxt, limit}, nil
}

func (s *Server) series(w http.ResponseWriter, r *http.Request) {
	m, e := s.metaRequest(r, true)
	if e != nil {
		writeError(w, e)
		return
	}
	defer m.q.Close()
	q, sets, mint, maxt, limit := m.q, m.sets, m.mint, m.maxt, m.limit
	hints := &storage.SelectHints{Start: mint, End: maxt, Func: "series"}
	var sets2 []storage.SeriesSet
	for _, m := range sets {
		sets2 = append(sets2, q.Select(r.Context(), len(sets) > 1, hints, m...))
	}
	set := sets2[0]
	if len(sets2) > 1 {
		set = storage.NewMergeSeriesSet(sets2, 0, storage.ChainedSeriesMerge)
	}
	b := []byte{'['}
	n := 0
	var warns []string
	for set.Next() {
		if limit > 0 && n == limit {
			warns = append(warns, "results truncated due to limit")
			break
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendLabels(b, set.At().Labels())
		n++
	}
	if err := set.Err(); err != nil {
		writeError(w, &apiError{"internal", 500, err})
		return
	}
	b = append(b, ']')
	writeData(w, b, append(warns, warnings(set.Warnings())...))
}

func (s *Server) labelNames(w http.ResponseWriter, r *http.Request) {
	s.labels(w, r, "")
}

func (s *Server) labelValues(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		if e := form(r); e == nil {
			writeError(w, badData("invalid label name: %q", name))
			return
		}
	}
	s.labels(w, r, name)
}

// labels answers /labels (name == "") and /label/<name>/values.
func (s *Server) labels(w http.ResponseWriter, r *http.Request, name string) {
	m, e := s.metaRequest(r, false)
	if e != nil {
		writeError(w, e)
		return
	}
	defer m.q.Close()
	q, sets, limit := m.q, m.sets, m.limit
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	seen := map[string]bool{}
	var warns annotations.Annotations
	for _, m := range sets {
		var (
			vals []string
			a    annotations.Annotations
			err  error
		)
		if name == "" {
			vals, a, err = q.LabelNames(r.Context(), &storage.LabelHints{}, m...)
		} else {
			vals, a, err = q.LabelValues(r.Context(), name, &storage.LabelHints{}, m...)
		}
		if err != nil {
			writeError(w, &apiError{"internal", 500, err})
			return
		}
		warns.Merge(a)
		for _, v := range vals {
			seen[v] = true
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	var ws []string
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		ws = append(ws, "results truncated due to limit")
	}
	b := []byte{'['}
	for i, v := range out {
		if i > 0 {
			b = append(b, ',')
		}
		b = event.AppendString(b, v)
	}
	b = append(b, ']')
	writeData(w, b, append(ws, warnings(warns)...))
}

// metadata lists the families the agent exposes, as /api/v1/metadata.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	if e := form(r); e != nil {
		writeError(w, e)
		return
	}
	descs, _, _ := s.Gatherer.Gather(r.Context())
	want := r.Form.Get("metric")
	limit, e := limitParam(r)
	if e != nil {
		writeError(w, e)
		return
	}
	descs = slices.Clone(descs)
	sort.Slice(descs, func(i, j int) bool { return descs[i].Name < descs[j].Name })
	b := []byte{'{'}
	n := 0
	for i, d := range descs {
		if want != "" && d.Name != want || i > 0 && descs[i-1].Name == d.Name {
			continue
		}
		if limit > 0 && n == limit {
			break
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = event.AppendString(b, d.Name)
		b = append(b, `:[{"type":`...)
		b = event.AppendString(b, d.Type.String())
		b = append(b, `,"help":`...)
		b = event.AppendString(b, d.Help)
		b = append(b, `,"unit":""}]`...)
	}
	b = append(b, '}')
	writeData(w, b, nil)
}

func (s *Server) buildinfo(w http.ResponseWriter, r *http.Request) {
	b := []byte(`{"version":`)
	b = event.AppendString(b, version.Version)
	b = append(b, `,"revision":"","branch":"","buildUser":"","buildDate":"","goVersion":`...)
	b = event.AppendString(b, runtime.Version())
	b = append(b, '}')
	writeData(w, b, nil)
}
