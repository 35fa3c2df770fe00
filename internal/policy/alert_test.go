package policy

import (
	"encoding/json"
	"testing"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/output"
)

func TestAlertEvent(t *testing.T) {
	if event.LookupKind("alert") != AlertKind {
		t.Fatal("the alert kind is not registered")
	}
	a := &Alert{Rule: "r", Severity: "high", On: "open", Action: "kill", Mode: "enforce", Outcome: "killed",
		File: "/etc/shadow", Access: []string{"read"}}
	ev := a.Event(event.Header{PID: 7, Comm: "cat"})
	var m map[string]any
	if err := json.Unmarshal(event.AppendJSON(nil, ev), &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"type": "alert", "rule": "r", "severity": "high", "on": "open", "action": "kill",
		"mode": "enforce", "outcome": "killed", "file": "/etc/shadow", "pid": float64(7)} {
		if m[k] != want {
			t.Errorf("%s: got %v, want %v", k, m[k], want)
		}
	}
	if _, ok := m["destination"]; ok {
		t.Error("an empty destination is not omitted")
	}
	if row := string(output.AppendRow(nil, ev)); len(row) == 0 {
		t.Error("no table row")
	}
}
