package store

import (
	"context"
	"testing"
	"time"
)

// SetRetention shortens the events' retention in place: the next expiry
// deletes what is now too old, and nothing else.
func TestEventsSetRetention(t *testing.T) {
	e, err := OpenEvents(t.TempDir(), 24*time.Hour, 100, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	now := time.Now()
	e.Emit(exitEvent(now.Add(-3*time.Hour), 1, "old", 0))
	e.Emit(exitEvent(now.Add(-time.Minute), 2, "new", 0))
	deadline := time.Now().Add(10 * time.Second)
	for e.Stored() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	e.expire()
	if e.Expired() != 0 {
		t.Fatalf("expired %d with 24h retention", e.Expired())
	}
	e.SetRetention(2 * time.Hour)
	e.expire()
	if e.Expired() != 1 {
		t.Errorf("expired %d after SetRetention(2h), want 1", e.Expired())
	}
	res, err := e.Query(context.Background(), Query{Type: "exit"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 1 {
		t.Errorf("%d events left, want 1", len(res.Events))
	}
}

// The metrics store takes a new retention as Prometheus does on reload.
func TestMetricsSetRetention(t *testing.T) {
	m, err := OpenMetrics(t.TempDir(), 24*time.Hour, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.SetRetention(2*time.Hour, 0); err != nil {
		t.Fatal(err)
	}
}
