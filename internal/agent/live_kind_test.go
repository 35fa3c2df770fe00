package agent

import (
	"testing"
	"time"

	"github.com/kscope/kscope/internal/api"
	"github.com/kscope/kscope/internal/event"
)

// An event of a kind built at run time reaches a live subscriber of its
// type as the encoder wrote it.
func TestLiveRunTimeKind(t *testing.T) {
	k, err := event.NewKind("live_probe", "a script's probe", []event.Field{
		{Name: "fn", Type: event.TypeString, Doc: "function"},
		{Name: "regs", Type: event.TypeInts, Doc: "registers"},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := newLive()
	s, _ := l.Subscribe(api.LiveFilter{Type: "live_probe"})
	ev := event.NewDynamic(k)
	ev.Header = event.Header{Time: time.Now(), Type: k.Name, PID: 9, Comm: "app"}
	ev.Set("fn", event.StringValue("read"))
	ev.Set("regs", event.IntsValue([]event.Int{{V: 3}}))
	l.publish(execEvent(9, "app"))
	l.publish(ev)
	select {
	case b := <-s.Events():
		if want := string(event.AppendJSON(nil, ev)); string(b) != want {
			t.Errorf("got %s\nwant %s", b, want)
		}
	default:
		t.Fatal("no event")
	}
	select {
	case b := <-s.Events():
		t.Errorf("unexpected %s", b)
	default:
	}
}
