package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/api"
	"github.com/kscope/kscope/internal/doctor"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/version"
)

// Live fan-out limits: each subscriber has a buffer of liveBuffer events;
// when it is full, events are dropped for that subscriber alone and
// counted. At most liveSubscribers streams are open at once.
const (
	liveBuffer      = 1024
	liveSubscribers = 64
)

// live hands every event the agent ingests to the subscribers of
// /api/v1/events/stream whose filter matches it. Publishing never blocks
// a collector: a slow subscriber loses events, counted. With no
// subscriber, an event costs one atomic load.
type live struct {
	n      atomic.Int32
	mu     sync.Mutex
	subs   map[*liveSub]struct{}
	lower  []byte
	closed bool
}

type liveSub struct {
	l       *live
	f       api.LiveFilter
	text    []byte // f.Text, lower case
	ch      chan []byte
	dropped atomic.Uint64
}

func newLive() *live { return &live{subs: map[*liveSub]struct{}{}} }

// Subscribe implements api.Live.
func (l *live) Subscribe(f api.LiveFilter) (api.LiveSubscription, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.subs) >= liveSubscribers {
		return nil, api.ErrTooManySubscribers
	}
	s := &liveSub{l: l, f: f, text: []byte(strings.ToLower(f.Text)), ch: make(chan []byte, liveBuffer)}
	l.subs[s] = struct{}{}
	l.n.Add(1)
	return s, nil
}

func (s *liveSub) Events() <-chan []byte { return s.ch }
func (s *liveSub) Dropped() uint64       { return s.dropped.Load() }

// Close unsubscribes; the channel is closed.
func (s *liveSub) Close() {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if _, ok := s.l.subs[s]; ok {
		delete(s.l.subs, s)
		s.l.n.Add(-1)
		close(s.ch)
	}
}

// close ends every stream (their channels close) and refuses new ones:
// the HTTP server is shutting down.
func (l *live) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for s := range l.subs {
		delete(l.subs, s)
		close(s.ch)
	}
	l.n.Store(0)
}

// publish offers ev to every subscriber, encoding it only if one listens.
func (l *live) publish(ev event.Event) {
	if l.n.Load() == 0 {
		return
	}
	l.publishJSON(ev.Hdr(), event.AppendJSON(nil, ev))
}

// publishJSON offers an event, encoded as the store holds it, to every
// subscriber whose filter matches it. data is shared, never modified.
func (l *live) publishJSON(h *event.Header, data []byte) {
	if l.n.Load() == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var lower []byte
	for s := range l.subs {
		if s.f.Type != "" && s.f.Type != h.Type || s.f.PID != 0 && s.f.PID != h.PID || s.f.Comm != "" && s.f.Comm != h.Comm {
			continue
		}
		if len(s.text) > 0 {
			if lower == nil {
				l.lower = appendLower(l.lower[:0], data)
				lower = l.lower
			}
			if !bytes.Contains(lower, s.text) {
				continue
			}
		}
		select {
		case s.ch <- data:
		default:
			s.dropped.Add(1)
		}
	}
}

func appendLower(b, s []byte) []byte {
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// liveStream is the live stream the event chain publishes to.
func (a *Agent) liveStream() *live {
	if a.ui == nil {
		a.ui = &agentUI{live: newLive(), started: time.Now()}
	}
	return a.ui.live
}

// agentUI is what the agent gives the web UI's endpoints.
type agentUI struct {
	live    *live
	started time.Time

	doctorMu   sync.Mutex
	doctorAt   time.Time
	doctorOut  []byte
	doctorErr  error
	doctorRuns atomic.Uint64
	doctorWarm sync.Once
}

// doctorTTL is how long a doctor report is reused: its probes load and
// attach BPF programs as root, so a client of /api/v1/doctor, however
// often it asks, makes the agent run them at most once per doctorTTL. A
// failed run is reused as long.
const doctorTTL = time.Minute

// serveUI connects the web UI's endpoints to the agent: live events,
// the doctor report and the agent's status.
func (a *Agent) serveUI(srv *api.Server) {
	a.liveStream()
	srv.UI = api.UI{Live: a.ui.live, Doctor: a.doctorJSON, Status: a.statusJSON, Probes: a.probesJSON}
	a.server.RegisterOnShutdown(a.ui.live.close)
}

// doctorJSON is the doctor report, run at most once per doctorTTL. A
// client that gives up does not cancel the run: the next one gets it.
func (a *Agent) doctorJSON(context.Context) ([]byte, error) {
	u := a.ui
	u.doctorMu.Lock()
	defer u.doctorMu.Unlock()
	if !u.doctorAt.IsZero() && time.Since(u.doctorAt) < doctorTTL {
		return u.doctorOut, u.doctorErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u.doctorRuns.Add(1)
	r := doctor.Run(ctx)
	var buf bytes.Buffer
	u.doctorErr = r.WriteJSON(&buf)
	u.doctorOut, u.doctorAt = bytes.TrimSpace(buf.Bytes()), time.Now()
	if u.doctorErr != nil {
		u.doctorOut = nil
	}
	return u.doctorOut, u.doctorErr
}

// agentStatus is /api/v1/status/agent.
type agentStatus struct {
	Version          string    `json:"version"`
	GoVersion        string    `json:"go_version"`
	Hostname         string    `json:"hostname"`
	Kernel           string    `json:"kernel"`
	CPUs             int       `json:"cpus"`
	Started          time.Time `json:"started"`
	IntervalSeconds  float64   `json:"interval_seconds"`
	RetentionSeconds float64   `json:"retention_seconds"`
	TopK             int       `json:"topk"`
	// BPF run-time statistics are sampled BPFStatsWindowSeconds once every
	// BPFStatsEverySeconds; a window of 0: never, or not on this kernel
	// (BPFStatsError says why).
	BPFStatsWindowSeconds float64           `json:"bpf_stats_window_seconds"`
	BPFStatsEverySeconds  float64           `json:"bpf_stats_every_seconds"`
	BPFStatsError         string            `json:"bpf_stats_error,omitempty"`
	DataDir               string            `json:"data_dir"`
	Collectors            []collectorStatus `json:"collectors"`
	LiveSubscribers       int               `json:"live_subscribers"`
	EventKinds            []string          `json:"event_kinds"` // every kind the event store can hold
	Health                health            `json:"health"`
	TSDB                  tsdbStatus        `json:"tsdb"`
}

// health is the agent's state as /healthz says it: ok, degraded (serving,
// not doing all its job) or unhealthy, with the reasons.
type health struct {
	Status  string   `json:"status"`
	Reasons []string `json:"reasons"`
}

type tsdbStatus struct {
	HeadSeries         uint64 `json:"head_series"`
	MaxSeries          uint64 `json:"max_series"`
	SeriesLimitReached bool   `json:"series_limit_reached"`
	RefusedSamples     uint64 `json:"refused_samples"`
}

type collectorStatus struct {
	Name        string   `json:"name"`
	Running     bool     `json:"running"`
	Error       string   `json:"error,omitempty"`
	TookSeconds float64  `json:"took_seconds"`
	Notes       []string `json:"notes"`
}

func (a *Agent) statusJSON() ([]byte, error) {
	// The UI asks for the status when it loads: run the doctor's probes
	// then, so its page does not wait for them.
	a.ui.doctorWarm.Do(func() { go a.doctorJSON(context.Background()) })
	// health reads the interval under a.mu: before taking it here.
	h := a.health()
	a.mu.Lock()
	defer a.mu.Unlock()
	host, _ := os.Hostname()
	var uts unix.Utsname
	unix.Uname(&uts)
	st := agentStatus{
		Version:          version.Version,
		GoVersion:        runtime.Version(),
		Hostname:         host,
		Kernel:           unix.ByteSliceToString(uts.Release[:]),
		CPUs:             runtime.NumCPU(),
		Started:          a.ui.started.UTC(),
		IntervalSeconds:  a.cfg.Interval.Seconds(),
		RetentionSeconds: a.cfg.Retention.Seconds(),
		TopK:             a.cfg.TopK,
		DataDir:          a.cfg.DataDir,
		Collectors:       []collectorStatus{},
		LiveSubscribers:  int(a.ui.live.n.Load()),
		EventKinds:       event.KindNames(),
		Health:           h,
	}
	if m := a.metrics; m != nil {
		st.TSDB = tsdbStatus{m.HeadSeries(), m.MaxSeries, m.LimitReached(), m.Limited()}
	}
	if a.stats != nil {
		_, _, err := a.stats.snapshot(func(statKey, statTotal) {})
		if err != nil {
			st.BPFStatsError = err.Error()
		} else {
			st.BPFStatsWindowSeconds, st.BPFStatsEverySeconds = a.stats.window.Seconds(), a.stats.every.Seconds()
		}
	}
	for _, s := range a.statuses {
		c := collectorStatus{Name: s.Name, Running: s.Err == nil, TookSeconds: s.Took.Seconds(), Notes: s.Notes}
		if s.Err != nil {
			c.Error = s.Err.Error()
		}
		if c.Notes == nil {
			c.Notes = []string{}
		}
		st.Collectors = append(st.Collectors, c)
	}
	return json.Marshal(st)
}
