package agent

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/cilium/ebpf"

	"github.com/kscope/kscope/internal/api"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/version"
)

// self exposes the agent's own cost and health as kscope_self_* metrics.
type self struct {
	a *Agent

	buildInfo, up, collectDur                  *metrics.Desc
	progRuns, progRunTime, progMisses          *metrics.Desc
	statsWindow, statsRatio                    *metrics.Desc
	events, lost, filtered, malformed          *metrics.Desc
	unreadable                                 *metrics.Desc
	mapEntries, mapMax, mapFill                *metrics.Desc
	cpu, rss, heap, goroutines                 *metrics.Desc
	evStored, evDropped, evQueued, evExpired   *metrics.Desc
	headSeries, samplesAppended, samplesReject *metrics.Desc
	profStored, profBytes, profExpired         *metrics.Desc
	profFailed, doctorRuns                     *metrics.Desc
	commitFailures, storeBytes, storeMax       *metrics.Desc
	evEvicted, profEvicted                     *metrics.Desc
	queriesInFlight, queriesQueued, queries    *metrics.Desc
	seriesLimit, seriesLimitReached            *metrics.Desc

	mapsAt   time.Time
	mapCache []mapFill
}

type mapFill struct {
	collector, name string
	entries, max    float64
}

func newSelf(a *Agent) *self {
	return &self{
		a:               a,
		buildInfo:       metrics.NewGauge("kscope_self_build_info", "The running kscope's version; always 1.", "version", "goversion"),
		up:              metrics.NewGauge("kscope_self_collector_up", "1 if the collector is running and its last collection worked, 0 if not.", "collector"),
		collectDur:      metrics.NewGauge("kscope_self_collect_duration_seconds", "How long the collector's last collection took.", "collector"),
		progRuns:        metrics.NewCounter("kscope_self_bpf_program_runs_total", "Times the BPF program ran during the sampling windows of kernel bpf_stats (kscope_self_bpf_stats_window_seconds_total).", "collector", "program"),
		progRunTime:     metrics.NewCounter("kscope_self_bpf_program_run_seconds_total", "Time spent running the BPF program during the sampling windows of kernel bpf_stats (kscope_self_bpf_stats_window_seconds_total).", "collector", "program"),
		statsWindow:     metrics.NewCounter("kscope_self_bpf_stats_window_seconds_total", "Seconds during which kernel bpf_stats were sampled: divide a rate of kscope_self_bpf_program_runs_total or _run_seconds_total by this one's rate for the programs' full rate."),
		statsRatio:      metrics.NewGauge("kscope_self_bpf_stats_sampled_ratio", "The configured share of time kernel bpf_stats are sampled: window over period."),
		progMisses:      metrics.NewCounter("kscope_self_bpf_program_recursion_misses_total", "Times the BPF program did not run because another BPF program was running on the CPU.", "collector", "program"),
		events:          metrics.NewCounter("kscope_self_collector_events_total", "Events the collector delivered to the event store.", "collector"),
		lost:            metrics.NewCounter("kscope_self_ringbuf_lost_total", "Events lost in the kernel because the collector's ring buffer or pending map was full.", "collector"),
		filtered:        metrics.NewCounter("kscope_self_collector_filtered_total", "Events dropped in the kernel by a filter.", "collector"),
		malformed:       metrics.NewCounter("kscope_self_collector_malformed_total", "Records the collector's decoder rejected.", "collector"),
		unreadable:      metrics.NewCounter("kscope_self_collector_unreadable_total", "Events sent with a string (exec argv or filename, open path, connect address, uprobe --str) that could not be read from user memory; the event flags it.", "collector"),
		mapEntries:      metrics.NewGauge("kscope_self_map_entries", "Entries in the collector's BPF hash map.", "collector", "map"),
		mapMax:          metrics.NewGauge("kscope_self_map_max_entries", "Capacity of the collector's BPF hash map.", "collector", "map"),
		mapFill:         metrics.NewGauge("kscope_self_map_fill_ratio", "Entries over capacity of the collector's BPF hash map.", "collector", "map"),
		cpu:             metrics.NewCounter("kscope_self_cpu_seconds_total", "CPU time the agent used, user and system.", "mode"),
		rss:             metrics.NewGauge("kscope_self_resident_memory_bytes", "The agent's resident set size."),
		heap:            metrics.NewGauge("kscope_self_go_heap_bytes", "Bytes of the agent's Go heap in use."),
		goroutines:      metrics.NewGauge("kscope_self_goroutines", "Goroutines in the agent."),
		evStored:        metrics.NewCounter("kscope_self_events_stored_total", "Events written to the event store."),
		evDropped:       metrics.NewCounter("kscope_self_events_dropped_total", "Events not stored: over the collector's rate limit for their type (rate_limited, per collector), the write queue was full (queue_full) or the write failed (write_failed).", "reason", "collector"),
		evQueued:        metrics.NewGauge("kscope_self_events_queued", "Events waiting to be written to the event store."),
		evExpired:       metrics.NewCounter("kscope_self_events_expired_total", "Events deleted from the event store by retention."),
		headSeries:      metrics.NewGauge("kscope_self_tsdb_head_series", "Series in the metrics store's in-memory head."),
		samplesAppended: metrics.NewCounter("kscope_self_tsdb_samples_appended_total", "Samples committed to the metrics store (acknowledged)."),
		commitFailures:  metrics.NewCounter("kscope_self_tsdb_commit_failures_total", "Collections the metrics store failed to commit (a full disk, an I/O error); their samples count in kscope_self_tsdb_samples_rejected_total{reason=\"write_failed\"}."),
		storeBytes:      metrics.NewGauge("kscope_self_store_bytes", "Bytes each store holds, as its size budget counts them.", "store"),
		storeMax:        metrics.NewGauge("kscope_self_store_max_bytes", "Each store's size budget: beyond it the oldest data is deleted.", "store"),
		evEvicted:       metrics.NewCounter("kscope_self_events_evicted_total", "Events deleted, oldest first, to keep the event store within its size budget."),
		profEvicted:     metrics.NewCounter("kscope_self_profile_windows_evicted_total", "Profile windows deleted, oldest first, to keep the profile store within its size budget."),
		profStored:      metrics.NewCounter("kscope_self_profile_windows_stored_total", "Profile windows written to the profile store."),
		profBytes:       metrics.NewCounter("kscope_self_profile_stored_bytes_total", "Bytes of profile windows written to the profile store (gzipped pprof)."),
		profExpired:     metrics.NewCounter("kscope_self_profile_windows_expired_total", "Profile windows deleted from the profile store by retention."),
		profFailed:      metrics.NewCounter("kscope_self_profile_windows_failed_total", "Profile windows lost to a failed write."),
		doctorRuns:      metrics.NewCounter("kscope_self_doctor_runs_total", "Times /api/v1/doctor ran the doctor's probes (each loads BPF programs); answers in between reuse the last report."),
		queriesInFlight: metrics.NewGauge("kscope_self_queries_in_flight", "Queries being evaluated, by API: promql, events, profile.", "api"),
		queriesQueued:   metrics.NewGauge("kscope_self_queries_queued", "Queries waiting for a slot (query.max_concurrency), by API.", "api"),
		queries:         metrics.NewCounter("kscope_self_queries_total", "Queries answered, by API and result: success or the Prometheus API error type (bad_data: refused before evaluation; timeout; canceled: the client left; unavailable: the queue was full).", "api", "result"),
		seriesLimit:     metrics.NewGauge("kscope_self_tsdb_series_limit", "The cap on series in the metrics store's in-memory head (storage.max_series)."),
		seriesLimitReached: metrics.NewGauge("kscope_self_tsdb_series_limit_reached",
			"1 while the metrics store's head holds storage.max_series series and samples of new series are refused (counted in kscope_self_tsdb_samples_rejected_total{reason=\"series_limit\"}), 0 otherwise."),
		samplesReject: metrics.NewCounter("kscope_self_tsdb_samples_rejected_total", "Samples the metrics store refused: invalid (out of order, bad value), series_limit (a new series while the in-memory series cap was reached) or write_failed (their commit failed).", "reason"),
	}
}

func (s *self) describe() []*metrics.Desc {
	return []*metrics.Desc{
		s.buildInfo, s.up, s.collectDur, s.progRuns, s.progRunTime, s.progMisses, s.statsWindow, s.statsRatio,
		s.events, s.lost, s.filtered, s.malformed, s.unreadable, s.mapEntries, s.mapMax, s.mapFill,
		s.cpu, s.rss, s.heap, s.goroutines,
		s.evStored, s.evDropped, s.evQueued, s.evExpired,
		s.headSeries, s.samplesAppended, s.samplesReject, s.seriesLimit, s.seriesLimitReached,
		s.profStored, s.profBytes, s.profExpired, s.profFailed, s.doctorRuns,
		s.commitFailures, s.storeBytes, s.storeMax, s.evEvicted, s.profEvicted,
		s.queriesInFlight, s.queriesQueued, s.queries,
	}
}

// collectioner is implemented by collectors built on collector.Tracer.
type collectioner interface{ Collection() *ebpf.Collection }

// mapRefresh is how often hash maps are walked to count their entries.
const mapRefresh = 10 * time.Second

func (s *self) collect(e *metrics.Emitter) {
	e.Gauge(s.buildInfo, 1, version.Version, runtime.Version())
	for _, st := range s.a.statuses {
		if st.Err != nil {
			e.Gauge(s.up, 0, st.Name)
		}
	}
	refresh := time.Since(s.mapsAt) >= mapRefresh
	if refresh {
		s.mapCache = s.mapCache[:0]
		s.mapsAt = time.Now()
	}
	for _, r := range s.a.running {
		up := 1.0
		if r.failing != nil {
			up = 0
		}
		e.Gauge(s.up, up, r.name)
		e.Gauge(s.collectDur, r.took.Seconds(), r.name)
		st := r.c.Stats()
		e.Counter(s.events, float64(st.Events), r.name)
		e.Counter(s.lost, float64(st.Lost), r.name)
		e.Counter(s.filtered, float64(st.Filtered), r.name)
		e.Counter(s.malformed, float64(st.Malformed), r.name)
		e.Counter(s.unreadable, float64(st.Unreadable), r.name)
		cl, ok := r.c.(collectioner)
		if !ok || cl.Collection() == nil {
			continue
		}
		coll := cl.Collection()
		// The kernel counts recursion misses whether or not bpf_stats are on.
		for name, p := range coll.Programs {
			ps, err := p.Stats()
			if err != nil {
				continue
			}
			e.Counter(s.progMisses, float64(ps.RecursionMisses), r.name, name)
		}
		if refresh {
			for name, m := range coll.Maps {
				if isHash(m.Type()) {
					s.mapCache = append(s.mapCache, mapFill{r.name, name, float64(countKeys(m)), float64(m.MaxEntries())})
				}
			}
		}
	}
	if st := s.a.stats; st != nil {
		sampled, windows, err := st.snapshot(func(k statKey, t statTotal) {
			e.Counter(s.progRuns, float64(t.runs), k.collector, k.program)
			e.Counter(s.progRunTime, t.runtime.Seconds(), k.collector, k.program)
		})
		if err == nil || windows > 0 {
			e.Counter(s.statsWindow, sampled.Seconds())
			e.Gauge(s.statsRatio, st.window.Seconds()/st.every.Seconds())
		}
	}
	for _, m := range s.mapCache {
		e.Gauge(s.mapEntries, m.entries, m.collector, m.name)
		e.Gauge(s.mapMax, m.max, m.collector, m.name)
		if m.max > 0 {
			e.Gauge(s.mapFill, m.entries/m.max, m.collector, m.name)
		}
	}

	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		e.Counter(s.cpu, tv(ru.Utime), "user")
		e.Counter(s.cpu, tv(ru.Stime), "system")
	}
	e.Gauge(s.rss, float64(rss()))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	e.Gauge(s.heap, float64(ms.HeapInuse))
	e.Gauge(s.goroutines, float64(runtime.NumGoroutine()))

	if ev := s.a.events; ev != nil {
		e.Counter(s.evStored, float64(ev.Stored()))
		e.Counter(s.evDropped, float64(ev.Dropped()), "queue_full", "")
		e.Counter(s.evDropped, float64(ev.Failed()), "write_failed", "")
		for _, r := range s.a.running {
			if r.limit != nil {
				e.Counter(s.evDropped, float64(r.limit.Dropped()), "rate_limited", r.name)
			}
		}
		e.Gauge(s.evQueued, float64(ev.Queued()))
		e.Counter(s.evExpired, float64(ev.Expired()))
		e.Counter(s.evEvicted, float64(ev.Evicted()))
		e.Gauge(s.storeBytes, float64(ev.Bytes()), "events")
		e.Gauge(s.storeMax, float64(ev.MaxBytes()), "events")
	}
	if p := s.a.profiles; p != nil {
		e.Counter(s.profStored, float64(p.Stored()))
		e.Counter(s.profBytes, float64(p.Bytes()))
		e.Counter(s.profExpired, float64(p.Expired()))
		e.Counter(s.profFailed, float64(s.a.profileErrors.Load()))
		e.Counter(s.profEvicted, float64(p.Evicted()))
		e.Gauge(s.storeBytes, float64(p.Size()), "profiles")
		e.Gauge(s.storeMax, float64(p.MaxBytes()), "profiles")
	}
	if s.a.ui != nil {
		e.Counter(s.doctorRuns, float64(s.a.ui.doctorRuns.Load()))
	}
	if m := s.a.metrics; m != nil {
		e.Gauge(s.headSeries, float64(m.HeadSeries()))
		e.Counter(s.samplesAppended, float64(m.Appended()))
		e.Counter(s.samplesReject, float64(m.Rejected()), "invalid")
		e.Counter(s.samplesReject, float64(m.Limited()), "series_limit")
		e.Counter(s.samplesReject, float64(m.WriteFailed()), "write_failed")
		e.Counter(s.commitFailures, float64(m.CommitFailures()))
		e.Gauge(s.storeBytes, float64(m.Size()), "metrics")
		e.Gauge(s.storeMax, float64(m.MaxBytes()), "metrics")
		e.Gauge(s.seriesLimit, float64(m.MaxSeries))
		reached := 0.0
		if m.LimitReached() {
			reached = 1
		}
		e.Gauge(s.seriesLimitReached, reached)
	}
	if s.a.api != nil {
		for _, q := range s.a.api.QueryStats() {
			e.Gauge(s.queriesInFlight, float64(q.InFlight), q.API)
			e.Gauge(s.queriesQueued, float64(q.Queued), q.API)
			for _, r := range api.Results {
				e.Counter(s.queries, float64(q.Results[r]), q.API, r)
			}
		}
	}
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func isHash(t ebpf.MapType) bool {
	switch t {
	case ebpf.Hash, ebpf.LRUHash, ebpf.PerCPUHash, ebpf.LRUCPUHash:
		return true
	}
	return false
}

// countKeys walks a hash map's keys, at most its capacity of them.
func countKeys(m *ebpf.Map) int {
	key := make([]byte, m.KeySize())
	next := make([]byte, m.KeySize())
	n := 0
	var prev any // nil: the first key
	for n < int(m.MaxEntries()) {
		if err := m.NextKey(prev, &next); err != nil {
			if !errors.Is(err, ebpf.ErrKeyNotExist) {
				return n
			}
			break
		}
		n++
		copy(key, next)
		prev = key
	}
	return n
}

// rss reads the resident set size from /proc/self/statm.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(string(f[1]), 10, 64)
	return pages * int64(os.Getpagesize())
}
