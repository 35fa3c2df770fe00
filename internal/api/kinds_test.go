package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/store"
)

// apiProbe is a kind built at run time, registered once for this test
// binary as a script's probes would be.
var apiProbe = func() *event.Kind {
	k, err := event.NewKind("api_probe", "a script's probe", []event.Field{
		{Name: "fn", Type: event.TypeString, Doc: "function"},
		{Name: "bytes", Type: event.TypeUint, Doc: "size"},
	})
	if err != nil {
		panic(err)
	}
	if err := event.Register(k); err != nil {
		panic(err)
	}
	return k
}()

func TestKinds(t *testing.T) {
	srv := httptest.NewServer((&Server{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer srv.Close()
	code, body := get(t, srv, "/api/v1/kinds", nil)
	var r struct {
		Status string
		Data   struct {
			Header []map[string]any
			Kinds  []struct {
				Name    string
				Doc     string
				Fields  []map[string]any
				Columns []map[string]any
				Summary []string
				Bad     string
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 || r.Status != "success" {
		t.Fatalf("%d %s", code, body)
	}
	var names []string
	for _, k := range r.Data.Kinds {
		names = append(names, k.Name)
	}
	if got := strings.Join(names, " "); got != "exec exit open connect oom signal uprobe usdt http api_probe" {
		t.Errorf("kinds %s", got)
	}
	if len(r.Data.Header) != 11 || r.Data.Header[0]["name"] != "time" || r.Data.Header[0]["type"] != "time" || r.Data.Header[0]["json_type"] != "string" {
		t.Errorf("header %v", r.Data.Header)
	}
	exec := r.Data.Kinds[0]
	if exec.Doc != event.ExecKind.Doc || len(exec.Fields) != 7 || exec.Bad != "error" {
		t.Errorf("exec %+v", exec)
	}
	if f := exec.Fields[2]; f["name"] != "argv" || f["type"] != "[]string" || f["json_type"] != "array" || f["doc"] == "" {
		t.Errorf("exec argv field %v", f)
	}
	if f := exec.Fields[6]; f["name"] != "error" || f["omitempty"] != true {
		t.Errorf("exec error field %v", f)
	}
	if c := exec.Columns[2]; c["header"] != "PID" || c["width"] != 7.0 || c["align"] != "right" {
		t.Errorf("exec PID column %v", c)
	}
	p := r.Data.Kinds[9]
	if c := p.Columns[4]; c["header"] != "BYTES" || c["field"] != "bytes" || c["align"] != "right" || c["width"] != 0.0 {
		t.Errorf("api_probe BYTES column %v", c)
	}
	if strings.Join(p.Summary, ",") != "fn,bytes" {
		t.Errorf("api_probe summary %v", p.Summary)
	}
}

// Events of a kind built at run time are listed by /api/v1/events as they
// were encoded, and selected by type=.
func TestEventsRunTimeKind(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ev, err := store.OpenEvents(t.TempDir(), time.Hour, 100, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	now := time.Now().UTC()
	p := event.NewDynamic(apiProbe)
	p.Header = event.Header{Time: now.Add(-time.Second), Type: apiProbe.Name, PID: 7, Comm: "app"}
	p.Set("fn", event.StringValue("read"))
	p.Set("bytes", event.UintValue(4096))
	ev.Emit(p)
	want := string(event.AppendJSON(nil, p))
	ev.Emit(&event.Exec{Header: event.Header{Time: now, Type: "exec", PID: 8, Comm: "sh"}, Filename: "/bin/sh"})
	deadline := time.Now().Add(10 * time.Second)
	for ev.Stored() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	srv := httptest.NewServer((&Server{Events: ev, Logger: logger}).Handler())
	defer srv.Close()
	code, body := get(t, srv, "/api/v1/events", url.Values{"type": {"api_probe"}})
	if wantBody := `{"status":"success","data":{"events":[` + want + `],"truncated":false}}`; code != 200 || body != wantBody {
		t.Errorf("type=api_probe: %d\n got %s\nwant %s", code, body, wantBody)
	}
	code, body = get(t, srv, "/api/v1/events", url.Values{"type": {"api_probe"}, "match": {"bytes=4096"}})
	if code != 200 || !strings.Contains(body, `"fn":"read","bytes":4096}`) {
		t.Errorf("match bytes=4096: %d %s", code, body)
	}
	if code, body := get(t, srv, "/api/v1/events", url.Values{"type": {"api_probe2"}}); code != 400 || !strings.Contains(body, `unknown event type \"api_probe2\"`) {
		t.Errorf("unknown type: %d %s", code, body)
	}
}
