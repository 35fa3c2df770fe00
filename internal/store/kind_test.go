package store

import (
	"context"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/event"
)

// An event of a kind built at run time is stored and read back as the
// encoder wrote it, and selected by its type and fields.
func TestEventsRunTimeKind(t *testing.T) {
	k, err := event.NewKind("script_probe", "a script's probe", []event.Field{
		{Name: "fn", Type: event.TypeString, Doc: "function"},
		{Name: "bytes", Type: event.TypeUint, Doc: "size"},
		{Name: "regs", Type: event.TypeInts, Doc: "registers"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := OpenEvents(t.TempDir(), time.Hour, 100, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	base := time.Now().Add(-time.Minute).UTC()
	var want []string
	for i, fn := range []string{"read", "write", "read"} {
		ev := event.NewDynamic(k)
		ev.Header = event.Header{Time: base.Add(time.Duration(i) * time.Second), Type: k.Name, PID: 40 + uint32(i), Comm: "app"}
		ev.Set("fn", event.StringValue(fn))
		ev.Set("bytes", event.UintValue(uint64(100*i)))
		ev.Set("regs", event.IntsValue([]event.Int{{V: uint64(i)}, {V: 1<<64 - 1, Signed: true}}))
		e.Emit(ev)
		if fn == "read" {
			want = append(want, string(event.AppendJSON(nil, ev)))
		}
	}
	e.Emit(exitEvent(base, 40, "app", 0))
	deadline := time.Now().Add(10 * time.Second)
	for e.Stored() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	res, err := e.Query(context.Background(), Query{Type: "script_probe", Match: []string{"fn=read"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != len(want) {
		t.Fatalf("got %d events, want %d", len(res.Events), len(want))
	}
	for i, got := range res.Events {
		if string(got) != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want[i])
		}
	}
}
