package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/event"
)

// procEvent is an event of the process pid that started at start.
type procEvent struct {
	typ   string
	pid   uint32
	start uint64
	code  int32
}

func (p procEvent) event(t time.Time) event.Event {
	h := event.Header{Time: t, Type: p.typ, PID: p.pid, TID: p.pid, Comm: "w", StartNS: p.start, StartTime: t.Add(-time.Second)}
	if p.typ == "exit" {
		return &event.Exit{Header: h, ExitCode: p.code}
	}
	return &event.Exec{Header: h, Filename: "/bin/w", Argv: []string{"w"}}
}

// TestEventsByProcess: two processes with the same pid, one after the
// other, are told apart by their start time.
func TestEventsByProcess(t *testing.T) {
	e, err := OpenEvents(t.TempDir(), time.Hour, 1000, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	base := time.Now().Add(-time.Minute)
	evs := []procEvent{
		{"exec", 300, 1000, 0}, {"exit", 300, 1000, 1}, // the first pid 300
		{"exec", 300, 5000, 0}, // the second, still running
		{"exec", 301, 1000, 0}, // another pid with the same start
	}
	for i, p := range evs {
		e.Emit(p.event(base.Add(time.Duration(i) * time.Second)))
	}
	waitStored(t, e, uint64(len(evs)))
	for _, tc := range []struct {
		q    Query
		want []int // indexes into evs
	}{
		{Query{PID: 300}, []int{0, 1, 2}},
		{Query{PID: 300, StartNS: 1000}, []int{0, 1}},
		{Query{PID: 300, StartNS: 5000}, []int{2}},
		{Query{PID: 300, StartNS: 5000, Type: "exit"}, nil},
		{Query{PID: 300, StartNS: 1000, Type: "exit"}, []int{1}},
		{Query{StartNS: 1000}, []int{0, 1, 3}},
		{Query{PID: 300, StartNS: 4999}, nil},
	} {
		res, err := e.Query(context.Background(), tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var got []procEvent
		for _, raw := range res.Events {
			var m struct {
				Type     string `json:"type"`
				PID      uint32 `json:"pid"`
				StartNS  uint64 `json:"start_ns"`
				ExitCode int32  `json:"exit_code"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			got = append(got, procEvent{m.Type, m.PID, m.StartNS, m.ExitCode})
		}
		var want []procEvent
		for _, i := range tc.want {
			want = append(want, evs[i])
		}
		if len(got) != len(want) {
			t.Errorf("%+v: got %v, want %v", tc.q, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%+v: got %v, want %v", tc.q, got, want)
				break
			}
		}
	}
}

// TestEventsMigrate opens a store written before the pid and start_ns
// columns: they are added, filled from the stored JSON and indexed.
func TestEventsMigrate(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	for _, stmt := range []string{
		`CREATE TABLE events (ts INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL)`,
		`CREATE INDEX events_type_ts ON events(type, ts)`,
		`CREATE INDEX events_ts ON events(ts)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct{ data string }{
		{`{"type":"exit","pid":77,"comm":"old","exit_code":1}`},
		{`{"type":"exit","pid":78,"comm":"old","exit_code":2}`},
	} {
		if _, err := db.Exec("INSERT INTO events(ts, type, data) VALUES (?, 'exit', ?)", now, r.data); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	e, err := OpenEvents(dir, time.Hour, 1000, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Emit(procEvent{"exit", 77, 9000, 3}.event(time.Now()))
	waitStored(t, e, 1)
	res, err := e.Query(context.Background(), Query{PID: 77})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 2 {
		t.Fatalf("pid 77: %d events, want 2: %q", len(res.Events), res.Events)
	}
	res, err = e.Query(context.Background(), Query{PID: 77, StartNS: 9000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 1 {
		t.Fatalf("pid 77 start 9000: %d events, want 1: %q", len(res.Events), res.Events)
	}
	var plan string
	var id, parent, unused int
	if err := e.db.QueryRow("EXPLAIN QUERY PLAN SELECT data FROM events WHERE pid = 77 AND start_ns = 9000 ORDER BY ts DESC").Scan(&id, &parent, &unused, &plan); err != nil {
		t.Fatal(err)
	}
	if want := "SEARCH events USING INDEX events_proc (pid=? AND start_ns=?)"; plan != want {
		t.Errorf("query plan %q, want %q", plan, want)
	}
}
