package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The UI answers every path the API does not: API routes keep priority.
func TestUIRoutes(t *testing.T) {
	srv, _ := fixture(t)
	for _, path := range []string{"/", "/processes/42", "/events"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if code, body := get(t, srv, "/api/v1/query", url.Values{"query": {"1"}}); code != 200 || !strings.Contains(body, `"resultType":"scalar"`) {
		t.Errorf("query: %d %s", code, body)
	}
	if code, body := get(t, srv, "/metrics", nil); code != 200 || !strings.Contains(body, "kscope_test_calls_total") {
		t.Errorf("metrics: %d %.100s", code, body)
	}
	// Without the agent's sources the UI endpoints say so, in the API's shape.
	for _, path := range []string{"/api/v1/events/stream", "/api/v1/doctor", "/api/v1/status/agent"} {
		code, body := get(t, srv, path, nil)
		if code != 404 || !strings.Contains(body, `"status":"error"`) {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	if code, _ := get(t, srv, "/api/v1/unknown", nil); code != 404 {
		t.Errorf("unknown API path: %d", code)
	}
}
