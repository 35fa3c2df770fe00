package bpfx_test

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/testutil"
)

func logTo(b *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
				return slog.Attr{}
			}
			return a
		},
	})).With("collector", "c")
}

var tracing = []bpfx.Hook{
	{Kind: bpfx.FeatTpBTF},
	{Kind: bpfx.FeatRawTracepoint, What: "raw tracepoints, a hash keyed by pid"},
	{Kind: bpfx.FeatTracepoint},
}

// TestChooseHook: the best hook the kernel has is taken; each forced
// fallback is taken and logged with why.
func TestChooseHook(t *testing.T) {
	testutil.RequireBPF(t)
	if err := bpfx.ProbeFeature(bpfx.FeatTpBTF); err != nil {
		testutil.Skip(t, bpfx.FeatTpBTF, err)
	}
	for _, tc := range []struct {
		force, want, log string
	}{
		{"", bpfx.FeatTpBTF, ""},
		{bpfx.FeatRawTracepoint, bpfx.FeatRawTracepoint,
			`msg=fallback collector=c what="raw tracepoints, a hash keyed by pid" why=forced` + "\n"},
		{bpfx.FeatTracepoint, bpfx.FeatTracepoint,
			`msg=fallback collector=c what="raw tracepoints, a hash keyed by pid" why=forced` + "\n" +
				`msg=fallback collector=c what="tracepoint instead of raw_tracepoint" why=forced` + "\n"},
	} {
		t.Run("force="+tc.force, func(t *testing.T) {
			if tc.force != "" {
				defer bpfx.ForceHook("c", tc.force)()
			}
			var b bytes.Buffer
			got, err := bpfx.ChooseHook(logTo(&b), "c", tracing...)
			if err != nil || got != tc.want {
				t.Errorf("ChooseHook = %q, %v; want %q", got, err, tc.want)
			}
			if b.String() != tc.log {
				t.Errorf("logged\n%s\nwant\n%s", b.String(), tc.log)
			}
		})
	}
}

// TestChooseHookWhy: a refusing Why passes over its hook with its reason
// (first line only); the last resort is taken unprobed; a forced kind the
// chain lacks and a chain with nothing usable are errors.
func TestChooseHookWhy(t *testing.T) {
	var b bytes.Buffer
	calls := 0
	got, err := bpfx.ChooseHook(logTo(&b), "d",
		bpfx.Hook{Kind: bpfx.FeatTpBTF, Why: func() error { calls++; return errors.New("no task storage\nverifier log") }},
		bpfx.Hook{Kind: bpfx.FeatRawTracepoint},
	)
	if err != nil || got != bpfx.FeatRawTracepoint || calls != 1 {
		t.Errorf("ChooseHook = %q, %v after %d probes; want raw_tracepoint after 1", got, err, calls)
	}
	if want := `msg=fallback collector=c what="raw_tracepoint instead of tp_btf" why="no task storage"` + "\n"; b.String() != want {
		t.Errorf("logged %q, want %q", b.String(), want)
	}

	// A kind forced for another chain of the same collector leaves this
	// one alone; one forced for another collector too.
	defer bpfx.ForceHook("d", "any_fd")()
	defer bpfx.ForceHook("e", bpfx.FeatRawTracepoint)()
	b.Reset()
	got, err = bpfx.ChooseHook(logTo(&b), "d",
		bpfx.Hook{Kind: "regular_files", Why: func() error { return nil }},
		bpfx.Hook{Kind: bpfx.FeatRawTracepoint})
	if err != nil || got != "regular_files" || b.Len() != 0 {
		t.Errorf("ChooseHook = %q, %v, logging %q; want regular_files, silently", got, err, b.String())
	}

	no := func() error { return errors.New("refused") }
	_, err = bpfx.ChooseHook(logTo(&b), "d", bpfx.Hook{Kind: bpfx.FeatTpBTF, Why: no}, bpfx.Hook{Kind: bpfx.FeatRawTracepoint, Why: no})
	if err == nil || err.Error() != "choosing a hook: tp_btf: refused\nraw_tracepoint: refused" {
		t.Errorf("nothing usable: %v", err)
	}
}
