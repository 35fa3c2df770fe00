package collector

import (
	"errors"
	"testing"
)

// TestLifecycle: Start once and never after Close; teardown runs once and
// every Close returns its error.
func TestLifecycle(t *testing.T) {
	var l Lifecycle
	if l.Running() {
		t.Error("running before Start")
	}
	if err := l.Start("x"); err != nil {
		t.Fatal(err)
	}
	if !l.Running() {
		t.Error("not running after Start")
	}
	if err := l.Start("x"); err == nil || err.Error() != "x: started twice or after Close" {
		t.Errorf("second Start = %v", err)
	}
	runs := 0
	errDown := errors.New("down")
	for range 3 {
		if err := l.Close(func() error { runs++; return errDown }); err != errDown {
			t.Errorf("Close = %v, want %v", err, errDown)
		}
	}
	if runs != 1 || l.Running() || !l.Closed() {
		t.Errorf("teardown ran %d times, running %v, closed %v; want 1, false, true", runs, l.Running(), l.Closed())
	}

	var never Lifecycle
	never.Close(func() error { return nil })
	if err := never.Start("y"); err == nil {
		t.Error("Start after Close succeeded")
	}
}
