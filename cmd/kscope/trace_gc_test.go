package main

import (
	"runtime/debug"
	"testing"
)

// TestPauseGC checks that loading runs without the garbage collector and
// that resuming restores the previous setting, once.
func TestPauseGC(t *testing.T) {
	orig := debug.SetGCPercent(70)
	defer debug.SetGCPercent(orig)

	resume := pauseGC()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GC percent while paused = %d, want -1 (off)", got)
	}
	resume()
	if got := debug.SetGCPercent(70); got != 70 {
		t.Fatalf("GC percent after resume = %d, want 70", got)
	}
	debug.SetGCPercent(55)
	resume() // a second call must not restore anything again
	if got := debug.SetGCPercent(55); got != 55 {
		t.Fatalf("GC percent after a second resume = %d, want 55 (untouched)", got)
	}
}
