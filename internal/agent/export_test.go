package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cprofile "github.com/kscope/kscope/internal/collector/profile"
	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/export"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/profile"
	"github.com/kscope/kscope/internal/store"
	"github.com/kscope/kscope/internal/testutil"
)

// recordingExporter keeps everything the agent reports, and when.
type recordingExporter struct {
	mu               sync.Mutex
	started, stopped int
	late             int // reports before Start or after Stop
	events           []export.Event
	collections      []collection
	profiles         []*profile.Profile
}

// collection is one ReportMetrics: its time and its counters and gauges
// by series (name{labels}).
type collection struct {
	t      time.Time
	values map[string]float64
}

func (r *recordingExporter) Name() string { return "recording" }

func (r *recordingExporter) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started++
	return nil
}

func (r *recordingExporter) Stop(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped++
	return nil
}

func (r *recordingExporter) live() bool { return r.started == 1 && r.stopped == 0 }

func (r *recordingExporter) ReportMetrics(t time.Time, _ []*metrics.Desc, samples []metrics.Sample) {
	c := collection{t: t, values: map[string]float64{}}
	for _, s := range samples {
		if s.Desc.Type == metrics.Histogram {
			continue
		}
		c.values[seriesKey(s.Desc.Name, s.Desc.Labels, s.Values)] = s.Value
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.live() {
		r.late++
	}
	r.collections = append(r.collections, c)
}

func (r *recordingExporter) ReportEvent(e export.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.live() {
		r.late++
	}
	r.events = append(r.events, e)
}

func (r *recordingExporter) ReportProfile(p *profile.Profile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.live() {
		r.late++
	}
	r.profiles = append(r.profiles, p)
}

func seriesKey(name string, labels, values []string) string {
	var kv []string
	for i, l := range labels {
		if values[i] != "" { // an empty label is no label in the TSDB
			kv = append(kv, l+"="+strconv.Quote(values[i]))
		}
	}
	slices.Sort(kv)
	return name + "{" + strings.Join(kv, ",") + "}"
}

// An exporter receives exactly what the stores get from a real agent run:
// every event stored, byte for byte, the samples of each collection as the
// TSDB answers for them, and every profile window stored.
func TestExporterGetsWhatIsStored(t *testing.T) {
	testutil.RequireBPF(t)
	rec := &recordingExporter{}
	cfg := testConfig(t, "exec", "exit", "process", "profile")
	cfg.Collectors["profile"] = config.Collector{Enabled: true, Options: cprofile.Settings{Hz: 99, Window: time.Second}}
	a, err := StartWith(context.Background(), cfg, Options{Exporters: []export.Exporter{rec}}, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			a.Close()
		}
	}()
	for _, s := range a.Statuses() {
		if s.Err != nil {
			t.Fatalf("%s: %v", s.Name, s.Err)
		}
	}

	// Five children exec and exit with code 7.
	const n = 5
	parent := exec.Command("sh", "-c", `for i in 1 2 3 4 5; do sh -c 'exit 7'; done; true`)
	if out, err := parent.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ppid := strconv.Itoa(parent.Process.Pid)
	stored := map[string][]string{}
	for deadline := time.Now().Add(60 * time.Second); ; {
		for _, typ := range []string{"exec", "exit"} {
			res, err := a.events.Query(context.Background(), store.Query{Type: typ, Match: []string{"ppid=" + ppid}, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			stored[typ] = nil
			for _, e := range res.Events {
				stored[typ] = append(stored[typ], string(e))
			}
		}
		if len(stored["exec"]) >= n && len(stored["exit"]) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the store for a condition, with a deadline
	}
	if len(stored["exec"]) != n || len(stored["exit"]) != n {
		t.Fatalf("stored %d execs and %d exits of the children of %s, want %d", len(stored["exec"]), len(stored["exit"]), ppid, n)
	}
	rec.mu.Lock()
	exported := map[string][]string{}
	for _, e := range rec.events {
		if strconv.Itoa(int(e.Header.PPID)) == ppid {
			exported[e.Header.Type] = append(exported[e.Header.Type], string(e.JSON))
		}
	}
	rec.mu.Unlock()
	for _, typ := range []string{"exec", "exit"} {
		slices.Sort(stored[typ])
		slices.Sort(exported[typ])
		if !slices.Equal(stored[typ], exported[typ]) {
			t.Errorf("%s events\nstored   %q\nexported %q", typ, stored[typ], exported[typ])
		}
	}
	var exit struct {
		ExitCode int `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(exported["exit"][0]), &exit); err != nil || exit.ExitCode != 7 {
		t.Errorf("exported exit %s: %v", exported["exit"][0], err)
	}

	// The last collection, as exported and as the TSDB answers for its
	// time.
	ingest(t, a, 2)
	rec.mu.Lock()
	last := rec.collections[len(rec.collections)-1]
	rec.mu.Unlock()
	at := strconv.FormatFloat(float64(last.t.Add(time.Millisecond).UnixMilli())/1000, 'f', 3, 64)
	code, body := getURL(t, "http://"+a.Addr().String()+"/api/v1/query?time="+at+"&query="+url.QueryEscape(`{__name__=~"kscope_.+"}`))
	var r struct {
		Data struct{ Result []promSeries }
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 {
		t.Fatalf("query: %d %s (%v)", code, body, err)
	}
	inTSDB := map[string]float64{}
	names := map[string]bool{}
	for k := range last.values {
		names[k[:strings.IndexByte(k, '{')]] = true
	}
	for _, s := range r.Data.Result {
		name := s.Metric["__name__"]
		if !names[name] {
			continue // a histogram's series, or a family with no sample in the last collection
		}
		var labels, values []string
		for l, v := range s.Metric {
			if l != "__name__" {
				labels, values = append(labels, l), append(values, v)
			}
		}
		v, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		if err != nil {
			t.Fatal(err)
		}
		inTSDB[seriesKey(name, labels, values)] = v
	}
	t.Logf("%d series compared", len(last.values))
	if len(last.values) < 10 {
		t.Fatalf("only %d samples exported: %v", len(last.values), last.values)
	}
	for k, v := range last.values {
		if got, ok := inTSDB[k]; !ok || got != v {
			t.Errorf("%s: exported %v, TSDB %v (present %v)", k, v, got, ok)
		}
	}
	for k := range inTSDB {
		if _, ok := last.values[k]; !ok {
			t.Errorf("%s in the TSDB, not exported", k)
		}
	}

	// Wait for a profile window, then close: the last, partial one is
	// stored and exported too, and so is every event.
	for deadline := time.Now().Add(30 * time.Second); a.profiles.Stored() == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // polling the store for a condition, with a deadline
	}
	closed = true
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.started != 1 || rec.stopped != 1 || rec.late != 0 {
		t.Errorf("started %d, stopped %d, %d reports outside", rec.started, rec.stopped, rec.late)
	}
	if got, want := uint64(len(rec.events)), a.events.Stored(); got != want || a.events.Dropped() != 0 {
		t.Errorf("%d events exported, %d stored, %d dropped", got, want, a.events.Dropped())
	}
	if got, want := uint64(len(rec.profiles)), a.profiles.Stored(); got != want || got < 2 {
		t.Errorf("%d profile windows exported, %d stored (want at least 2)", got, want)
	}
}
