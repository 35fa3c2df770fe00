package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
)

type groups []*rules.Group

func (g groups) RuleGroups() []*rules.Group { return g }

// rulesServer serves two rule files' groups, loaded and not evaluated.
func rulesServer(t *testing.T) (*httptest.Server, string) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml")
	os.WriteFile(a, []byte(`groups:
  - name: ga
    rules:
      - record: x:sum
        expr: sum(x)
        labels: {team: db}
      - alert: XHigh
        expr: x > 1
        for: 2m
        keep_firing_for: 1m
        labels: {severity: page}
        annotations: {summary: high}
`), 0o600)
	os.WriteFile(b, []byte("groups:\n  - name: gb\n    interval: 30s\n    limit: 7\n    rules:\n      - alert: YLow\n        expr: y < 1\n"), 0o600)
	m := rules.NewManager(&rules.ManagerOptions{Logger: slog.New(slog.DiscardHandler)})
	loaded, errs := m.LoadGroups(time.Minute, labels.EmptyLabels(), "", nil, false, a, b)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	gs := groups{loaded[rules.GroupKey(a, "ga")], loaded[rules.GroupKey(b, "gb")]}
	s := &Server{Logger: slog.New(slog.DiscardHandler), Rules: gs}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, dir
}

// /api/v1/rules takes Prometheus's filters; /api/v1/alerts lists active
// alerts (none before evaluation).
func TestRulesEndpoint(t *testing.T) {
	srv, dir := rulesServer(t)
	get := func(q string) (int, string) {
		resp, err := http.Get(srv.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	names := func(q string) string {
		code, body := get(q)
		var r struct {
			Data struct {
				Groups []struct {
					Name  string
					Rules []struct{ Name string }
				}
			}
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 {
			t.Fatalf("%s: %d %s", q, code, body)
		}
		var out []string
		for _, g := range r.Data.Groups {
			for _, rl := range g.Rules {
				out = append(out, g.Name+"/"+rl.Name)
			}
		}
		return strings.Join(out, " ")
	}
	for q, want := range map[string]string{
		"/api/v1/rules":                               "ga/x:sum ga/XHigh gb/YLow",
		"/api/v1/rules?type=alert":                    "ga/XHigh gb/YLow",
		"/api/v1/rules?type=record":                   "ga/x:sum",
		"/api/v1/rules?rule_name[]=YLow":              "gb/YLow",
		"/api/v1/rules?rule_group[]=ga":               "ga/x:sum ga/XHigh",
		"/api/v1/rules?file[]=" + dir + "/b.yml":      "gb/YLow",
		"/api/v1/rules?match[]={severity=%22page%22}": "ga/XHigh",
		"/api/v1/rules?match[]={team=%22db%22}":       "ga/x:sum",
	} {
		if got := names(q); got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
	_, body := get("/api/v1/rules?rule_group[]=gb")
	want := `{"status":"success","data":{"groups":[{"name":"gb","file":"` + dir + `/b.yml","rules":[{"state":"unknown","name":"YLow","query":"y \u003c 1","duration":0,"keepFiringFor":0,"labels":{},"annotations":{},"alerts":[],"health":"unknown","evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","type":"alerting"}],"interval":30,"limit":7,"evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z"}]}}` + "\n"
	if body != want {
		t.Errorf("got  %s\nwant %s", body, want)
	}
	_, body = get("/api/v1/rules?rule_name[]=XHigh&exclude_alerts=true")
	if !strings.Contains(body, `"duration":120,"keepFiringFor":60,"labels":{"severity":"page"},"annotations":{"summary":"high"},"alerts":null`) {
		t.Errorf("exclude_alerts: %s", body)
	}
	if code, body := get("/api/v1/alerts"); code != 200 || body != `{"status":"success","data":{"alerts":[]}}`+"\n" {
		t.Errorf("/api/v1/alerts: %d %s", code, body)
	}
	for _, q := range []string{"/api/v1/rules?type=both", "/api/v1/rules?exclude_alerts=maybe", "/api/v1/rules?match[]={"} {
		if code, body := get(q); code != 400 || !strings.Contains(body, `"errorType":"bad_data"`) {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
}

// Without rules both endpoints answer empty lists.
func TestRulesEndpointNoRules(t *testing.T) {
	srv := httptest.NewServer((&Server{Logger: slog.New(slog.DiscardHandler)}).Handler())
	defer srv.Close()
	for path, want := range map[string]string{"/api/v1/rules": `{"groups":[]}`, "/api/v1/alerts": `{"alerts":[]}`} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != `{"status":"success","data":`+want+"}\n" {
			t.Errorf("%s: %s", path, b)
		}
	}
}
