package agent

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// /api/v1/doctor loads BPF programs as root: however many clients ask,
// and however fast, the probes run once per doctorTTL.
func TestDoctorCached(t *testing.T) {
	testutil.RequireBPF(t)
	a, err := Start(context.Background(), testConfig(t), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	get := func(path string) string {
		resp, err := http.Get(a.URL() + path)
		if err != nil {
			t.Error(err)
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %.200s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	first := get("/api/v1/doctor")
	if !strings.Contains(first, `"status":"success"`) {
		t.Fatalf("doctor: %.300s", first)
	}
	var wg sync.WaitGroup
	answers := make([]string, 20)
	for i := range answers {
		wg.Go(func() { answers[i] = get("/api/v1/doctor") })
	}
	wg.Wait()
	for i, ans := range answers {
		if ans != first {
			t.Errorf("answer %d differs from the cached report", i)
		}
	}
	if n := a.ui.doctorRuns.Load(); n != 1 {
		t.Errorf("doctor ran %d times for 21 requests, want 1", n)
	}
	if m := get("/metrics"); !strings.Contains(m, "\nkscope_self_doctor_runs_total 1\n") {
		t.Errorf("/metrics has no kscope_self_doctor_runs_total 1")
	}
}
