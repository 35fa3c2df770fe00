package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/policy"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}

// A webhook that fails twice then accepts gets the alert on the third
// attempt, with its headers and the alert's JSON as the body.
func TestWebhookRetries(t *testing.T) {
	var (
		mu       sync.Mutex
		attempts int
		got      []byte
		header   http.Header
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if attempts++; attempts <= 2 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		got, header = body, r.Header.Clone()
	}))
	defer srv.Close()
	w := newWebhook(config.Webhook{URL: srv.URL + "/hook?token=x", Headers: map[string]string{"X-Token": "s3cret"}, Timeout: 5 * time.Second}, 8, quietLogger)
	defer w.close(context.Background())
	body := []byte(`{"type":"alert","rule":"r1"}`)
	w.enqueue(body)
	waitFor(t, "the delivery", func() bool { return w.sent.Load() == 1 })
	mu.Lock()
	defer mu.Unlock()
	if attempts != 3 || string(got) != string(body) || header.Get("X-Token") != "s3cret" || header.Get("Content-Type") != "application/json" {
		t.Errorf("attempts %d, body %s, headers %v", attempts, got, header)
	}
	if r, f := w.retries.Load(), w.droppedFailed.Load(); r != 2 || f != 0 {
		t.Errorf("retries %d, failed %d", r, f)
	}
	if w.label != srv.URL+"/hook" {
		t.Errorf("label %q: want the URL without its query", w.label)
	}
}

// A 4xx is a refusal: not retried, counted as failed.
func TestWebhookRefused(t *testing.T) {
	var attempts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		http.Error(w, "bad", http.StatusBadRequest)
	}))
	defer srv.Close()
	w := newWebhook(config.Webhook{URL: srv.URL}, 8, quietLogger)
	defer w.close(context.Background())
	w.enqueue([]byte(`{}`))
	waitFor(t, "the refusal", func() bool { return w.droppedFailed.Load() == 1 })
	if n := attempts.Load(); n != 1 || w.sent.Load() != 0 || w.retries.Load() != 0 {
		t.Errorf("attempts %d, sent %d, retries %d", n, w.sent.Load(), w.retries.Load())
	}
}

// The queue is bounded: while the endpoint holds one alert, the queue
// takes its capacity and drops the rest, counting each; once the endpoint
// answers, every queued alert is delivered. Alerts still queued when close's
// deadline passes are dropped and counted too.
func TestWebhookQueueBounded(t *testing.T) {
	arrived := make(chan struct{}, 100)
	release := make(chan struct{})
	var delivered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		delivered.Add(1)
	}))
	defer srv.Close()
	const queue = 4
	w := newWebhook(config.Webhook{URL: srv.URL, Timeout: time.Minute}, queue, quietLogger)
	w.enqueue([]byte(`{"n":0}`))
	<-arrived // the first is in flight, out of the queue
	for i := range queue + 3 {
		w.enqueue([]byte(`{"n":1}`))
		_ = i
	}
	if d := w.droppedFull.Load(); d != 3 {
		t.Fatalf("dropped %d: want 3 beyond the queue of %d", d, queue)
	}
	close(release)
	waitFor(t, "the queue to drain", func() bool { return w.sent.Load() == 1+queue })
	if delivered.Load() != 1+queue {
		t.Errorf("the endpoint got %d", delivered.Load())
	}

	// An endpoint that never answers: close gives up at its deadline.
	stuck := make(chan struct{})
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server sees the client go
		arrived <- struct{}{}
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	defer srv2.Close()
	defer close(stuck)
	w2 := newWebhook(config.Webhook{URL: srv2.URL, Timeout: time.Minute}, queue, quietLogger)
	w2.enqueue([]byte(`{}`))
	<-arrived
	w2.enqueue([]byte(`{}`))
	w2.enqueue([]byte(`{}`))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	w2.close(ctx)
	w2.enqueue([]byte(`{}`)) // after close
	if s, d := w2.sent.Load(), w2.droppedStop.Load(); s != 0 || d != 4 {
		t.Errorf("sent %d, dropped at shutdown %d: want 0 and 4", s, d)
	}
	w.close(context.Background())
}

// Each alert goes to its file's webhook, else to alerts.webhook; a kill
// that failed in enforce mode counts as an enforcement failure.
func TestAlertRouting(t *testing.T) {
	type got struct {
		mu    sync.Mutex
		rules []string
	}
	serve := func(g *got) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var a struct {
				Rule string `json:"rule"`
			}
			json.NewDecoder(r.Body).Decode(&a)
			g.mu.Lock()
			g.rules = append(g.rules, a.Rule)
			g.mu.Unlock()
		}))
	}
	var fileGot, agentGot got
	fileSrv, agentSrv := serve(&fileGot), serve(&agentGot)
	defer fileSrv.Close()
	defer agentSrv.Close()

	rules, err := policy.Parse("p.yaml", []byte("webhook: {url: "+fileSrv.URL+"}\nrules:\n  - {name: r1, on: exec, match: {comm: [sh]}, action: kill}\n"))
	if err != nil {
		t.Fatal(err)
	}
	more, err := policy.Parse("q.yaml", []byte("rules:\n  - {name: r2, on: exec, match: {comm: [sh]}, action: alert}\n"))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := policy.PlanRules(append(rules, more...), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Plans: plans}
	p := newPolicies(quietLogger)
	defer p.close(context.Background())
	p.set = set
	cfg := config.Default(nil)
	cfg.Alerts.Webhook = &config.Webhook{URL: agentSrv.URL, Timeout: time.Second}
	p.configureHooks(cfg)
	tap := p.tap(discard{}, policy.AgentOptions{Set: set})
	emit := func(rule, action, outcome string) {
		a := policy.Alert{Rule: rule, Severity: "high", On: "exec", Action: action, Mode: "enforce", Outcome: outcome}
		tap.Emit(a.Event(event.Header{PID: 1, Comm: "sh"}))
	}
	emit("r1", "kill", "killed")
	emit("r1", "kill", "kill failed: ESRCH")
	emit("r2", "alert", "alerted")
	waitFor(t, "3 deliveries", func() bool {
		fileGot.mu.Lock()
		agentGot.mu.Lock()
		defer fileGot.mu.Unlock()
		defer agentGot.mu.Unlock()
		return len(fileGot.rules)+len(agentGot.rules) == 3
	})
	if strings.Join(fileGot.rules, ",") != "r1,r1" || strings.Join(agentGot.rules, ",") != "r2" {
		t.Errorf("the file's webhook got %v, the agent's %v", fileGot.rules, agentGot.rules)
	}
	if f := p.failures.Load(); f != 1 {
		t.Errorf("enforcement failures %d, want 1", f)
	}
}
