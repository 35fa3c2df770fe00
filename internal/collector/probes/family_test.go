package probes

import (
	"log/slog"
	"strconv"
	"testing"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/probe/codegen"
	"github.com/kscope/kscope/internal/probe/run"
)

// A map with more keys than topk: counters keep K series and add the rest
// up in "other", exactly; gauges keep the K largest.
func TestFamilyTopK(t *testing.T) {
	c := &Collector{cfg: collector.Config{TopK: 2}, logger: slog.New(slog.DiscardHandler)}
	md := &run.MapData{Name: "calls", Keyed: true}
	for i := 1; i <= 5; i++ {
		md.Entries = append(md.Entries, run.Entry{Keys: []any{"k" + strconv.Itoa(i)}, Int: int64(i * 10)})
	}
	for _, tc := range []struct {
		kind   check.Kind
		name   string
		series int
		total  float64
	}{
		{check.Count, "kscope_probe_s_calls_total", 3, 150},
		{check.Max, "kscope_probe_s_calls", 2, 90},
	} {
		f := newFamily("s", &codegen.Map{Name: "calls", Value: tc.kind, Keyed: true, Keys: []codegen.Slot{{}}}, c.topK(), c.logger)
		var e metrics.Emitter
		f.collect(&e, md)
		total := 0.0
		for _, s := range e.Samples {
			if s.Desc.Name != tc.name || len(s.Values) != 1 {
				t.Errorf("%v: sample %s %v", tc.kind, s.Desc.Name, s.Values)
			}
			total += s.Value
		}
		if len(e.Samples) != tc.series || total != tc.total {
			t.Errorf("%v: %d series totalling %v, want %d totalling %v", tc.kind, len(e.Samples), total, tc.series, tc.total)
		}
	}
}
