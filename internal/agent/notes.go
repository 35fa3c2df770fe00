package agent

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/kscope/kscope/internal/event"
)

type eventSink = event.Sink

type discard struct{}

func (discard) Emit(event.Event) {}
func (discard) Flush()           {}

// noteHandler keeps what a collector logs at Info and above while it
// starts: the fallbacks it took and the hooks it skipped.
type noteHandler struct {
	mu    sync.Mutex
	notes []string
}

func (h *noteHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *noteHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "collector" {
			b.WriteString(" " + a.String())
		}
		return true
	})
	h.mu.Lock()
	h.notes = append(h.notes, b.String())
	h.mu.Unlock()
	return nil
}

func (h *noteHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *noteHandler) WithGroup(string) slog.Handler      { return h }

func (h *noteHandler) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.notes...)
}

// teeHandler sends records to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return t.a.Enabled(ctx, l) || t.b.Enabled(ctx, l)
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if t.a.Enabled(ctx, r.Level) {
		t.a.Handle(ctx, r.Clone())
	}
	if t.b.Enabled(ctx, r.Level) {
		t.b.Handle(ctx, r)
	}
	return nil
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{t.a.WithAttrs(as), t.b.WithAttrs(as)}
}

func (t teeHandler) WithGroup(g string) slog.Handler {
	return teeHandler{t.a.WithGroup(g), t.b.WithGroup(g)}
}
