package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/config"
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
