package probes

import (
	"log/slog"
	"testing"

	"github.com/kscope/kscope/internal/metrics"
	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/probe/codegen"
	"github.com/kscope/kscope/internal/probe/run"
)

// hist()'s buckets become a native histogram of schema 0 with the same
// bounds and counts; lhist() stays a classic histogram only.
func TestFamilyNative(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	// -3, 0, 1, 1, 3 and 100, as bpftrace numbers hist()'s buckets:
	// 0 negative, 1 the value 0, k >= 2 [2^(k-2), 2^(k-1)).
	md := &run.MapData{Name: "v", Entries: []run.Entry{{Buckets: map[int]uint64{0: 1, 1: 1, 2: 2, 3: 1, 8: 1}, Count: 6, Total: 102}}}
	f := newFamily("s", &codegen.Map{Name: "v", Value: check.Hist}, 10, log)
	var e metrics.Emitter
	f.collect(&e, md)
	if len(e.Samples) != 1 || e.Samples[0].Hist == nil || e.Samples[0].Hist.Native == nil {
		t.Fatalf("samples %+v", e.Samples)
	}
	h := e.Samples[0].Hist
	const want = "{count:6, sum:102, [-1,-0.5):1, [-0,0]:1, (1,2]:2, (2,4]:1, (64,128]:1}"
	if got := h.Native.Prometheus(h.Sum).String(); got != want {
		t.Errorf("native histogram %s, want %s", got, want)
	}
	if h.Count() != 6 || h.Counts[3] != 1 || h.Bounds[3] != 3 {
		t.Errorf("classic buckets %v over %v", h.Counts, h.Bounds)
	}

	// Every bucket: 2^62 and above is bpftrace's last, [2^62, 2^63).
	counts := make([]uint64, 65)
	counts[64] = 1
	if got := log2Native(counts).Prometheus(0).String(); got != "{count:1, sum:0, (4.611686018427388e+18,9.223372036854776e+18]:1}" {
		t.Errorf("the last bucket: %s", got)
	}

	l := newFamily("s", &codegen.Map{Name: "l", Value: check.LHist, Min: 0, Max: 100, Step: 25}, 10, log)
	e.Reset()
	l.collect(&e, &run.MapData{Name: "l", Entries: []run.Entry{{Buckets: map[int]uint64{1: 3}, Count: 3, Total: 30}}})
	if len(e.Samples) != 1 || e.Samples[0].Hist.Native != nil {
		t.Errorf("lhist: %+v", e.Samples[0].Hist)
	}
}
