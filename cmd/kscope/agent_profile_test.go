package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/profile"
)

// phasesGo burns CPU in phaseOne until SIGUSR1, then idles (saying so
// with a file "idle" next to itself) until SIGUSR2, then burns CPU in
// phaseTwo until SIGUSR1, then exits.
const phasesGo = `package main

import (
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

//go:noinline
func phaseOne(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i % 7
	}
	return s
}

//go:noinline
func phaseTwo(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i % 11
	}
	return s
}

func main() {
	c := make(chan os.Signal, 3)
	signal.Notify(c, syscall.SIGUSR1, syscall.SIGUSR2)
	s := 0
	burn := func(f func(int) int) {
		for {
			select {
			case <-c:
				return
			default:
				s += f(1 << 20)
			}
		}
	}
	burn(phaseOne)
	os.WriteFile(filepath.Join(filepath.Dir(os.Args[0]), "idle"), nil, 0o600)
	<-c
	burn(phaseTwo)
	println(s)
}
`

func TestAgentProfiles(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kscope.yaml")
	os.WriteFile(cfg, []byte("collectors:\n  profile: {hz: 99, window: 1s}\n"), 0o600)
	data := filepath.Join(dir, "data")
	a := startAgent(t, data, "--config", cfg, "--collectors", "profile")

	// A comm of this run's own: the diff below selects by comm, and the
	// same test may run beside this one.
	comm := "phases" + strconv.Itoa(os.Getpid())
	comm = comm[:min(len(comm), 15)]
	w := startWorkload(t, comm, func(dir, bin string) *exec.Cmd {
		src := filepath.Join(dir, "main.go")
		os.WriteFile(src, []byte(phasesGo), 0o600)
		c := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, src)
		c.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=")
		return c
	})
	pid := strconv.Itoa(w.Process.Pid)
	// Windows overlapping [since, until) are taken whole. The phases are
	// kept apart by the order of events, not by the clock: phase one ends
	// before t1; three windows are stored after t1 (one stored late
	// allowed for), so every window that began before t1 has ended by t2,
	// when phase two starts; and every window ending after t2 began after
	// t1.
	t0 := time.Now()
	waitWindows(t, a.url, 3) // phase one runs for about three windows
	w.Process.Signal(syscall.SIGUSR1)
	waitFile(t, filepath.Join(filepath.Dir(w.Path), "idle"))
	t1 := time.Now()
	waitWindows(t, a.url, 3)
	t2 := time.Now()
	w.Process.Signal(syscall.SIGUSR2)
	waitWindows(t, a.url, 3) // phase two runs for about three windows
	w.Process.Signal(syscall.SIGUSR1)
	w.Wait() // it exits: its stacks must still be named
	t3 := time.Now()
	waitWindows(t, a.url, 2) // the last window holding it is stored

	one := url.Values{"pid": {pid}, "since": {unixSecs(t0)}, "until": {unixSecs(t1)}}
	two := url.Values{"pid": {pid}, "since": {unixSecs(t2)}, "until": {unixSecs(t3)}}

	// folded: phaseOne holds the first range.
	folded := profileGet(t, a.url, one, "format", "folded")
	stacks, err := profile.ParseFolded(strings.NewReader(folded))
	if err != nil {
		t.Fatalf("folded: %v\n%s", err, folded)
	}
	if share := leafShare(stacks, "main.phaseOne"); share < 0.8 {
		t.Errorf("main.phaseOne has %.0f%% of pid %s's CPU in the first range, want at least 80%%:\n%s", 100*share, pid, lastLines(folded, 20))
	}
	// The same process before its exec went by the test binary's name: a
	// sample may catch it in execve.
	self := filepath.Base(os.Args[0])
	self = self[:min(len(self), 15)]
	for _, s := range stacks {
		if s.Frames[0] != comm && (s.Frames[0] != self || !strings.Contains(strings.Join(s.Frames, ";"), "execve")) {
			t.Errorf("pid=%s returned a stack of %q: %v", pid, s.Frames[0], s.Frames)
		}
	}

	// pprof: go tool pprof reads it and names the function.
	pb := filepath.Join(dir, "two.pb.gz")
	os.WriteFile(pb, []byte(profileGet(t, a.url, two, "format", "pprof")), 0o600)
	if share := topShare(t, pb, "main.phaseTwo"); share < 80 {
		t.Errorf("main.phaseTwo has %.1f%% of the second range, want at least 80%%", share)
	}

	// flamegraph: an HTML page that names it.
	if page := profileGet(t, a.url, two, "format", "flamegraph"); !strings.Contains(page, "main.phaseTwo") || !strings.HasPrefix(page, "<!DOCTYPE html>") {
		t.Errorf("flamegraph page does not name main.phaseTwo:\n%.300s", page)
	}

	// A diff of the second range against the first, selected by comm.
	diff := url.Values{"comm": {comm}, "since": two["since"], "until": two["until"],
		"base_since": one["since"], "base_until": one["until"], "format": {"json"}}
	var res struct {
		Status string
		Data   struct {
			Type      string
			Unit      string
			Total     int64
			BaseTotal int64 `json:"base_total"`
			Root      jsonNode
		}
	}
	if err := json.Unmarshal([]byte(profileGet(t, a.url, diff)), &res); err != nil {
		t.Fatal(err)
	}
	d := res.Data
	if res.Status != "success" || d.Type != "cpu" || d.Unit != "nanoseconds" || d.Total <= 0 || d.BaseTotal <= 0 || d.Root.Value != d.Total || d.Root.Base != d.BaseTotal {
		t.Errorf("diff: status %s, type %s, unit %s, total %d, base_total %d, root %d/%d", res.Status, d.Type, d.Unit, d.Total, d.BaseTotal, d.Root.Value, d.Root.Base)
	}
	p1, p2 := d.Root.sum("main.phaseOne"), d.Root.sum("main.phaseTwo")
	if p2[0] < d.Total*8/10 || p2[1] != 0 {
		t.Errorf("main.phaseTwo: %d in the range (total %d), %d in the base (want 0)", p2[0], d.Total, p2[1])
	}
	if p1[1] < d.BaseTotal*8/10 || p1[0] > d.Total/10 {
		t.Errorf("main.phaseOne: %d in the base (total %d), %d in the range (want little)", p1[1], d.BaseTotal, p1[0])
	}
	diff.Set("format", "folded")
	for _, line := range strings.Split(strings.TrimSpace(profileGet(t, a.url, diff)), "\n") {
		if f := strings.Fields(line); len(f) < 3 {
			t.Errorf("diff folded line %q: want stack base value", line)
		}
	}

	// Bad input gets Prometheus-shaped errors.
	for _, q := range []url.Values{
		{"pid": {"abc"}},
		{"format": {"gif"}},
		{"type": {"heap"}},
		{"since": {"yesterday"}},
		{"since": {"1m"}, "until": {"2m"}},
		{"base_since": {"10m"}},
		{"base_since": {"10m"}, "base_until": {"5m"}, "format": {"pprof"}},
	} {
		resp, err := http.Get(a.url + "/api/v1/profile?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), `"errorType":"bad_data"`) {
			t.Errorf("%s: %d %s, want 400 bad_data", q.Encode(), resp.StatusCode, body)
		}
	}

	// The windows outlive the agent.
	m := scrape(t, a.url)
	if m["kscope_self_profile_windows_stored_total{}"] < 5 || m["kscope_self_profile_stored_bytes_total{}"] <= 0 {
		t.Errorf("profile store counters: %v windows, %v bytes", m["kscope_self_profile_windows_stored_total{}"], m["kscope_self_profile_stored_bytes_total{}"])
	}
	a.stop(t)
	b := startAgent(t, data, "--config", cfg, "--collectors", "profile")
	if again := profileGet(t, b.url, one, "format", "folded"); again != folded {
		t.Errorf("after a restart the first range reads\n%s\nnot\n%s", lastLines(again, 10), lastLines(folded, 10))
	}
}

// waitWindows waits until the agent at base has stored n more profile
// windows.
func waitWindows(t *testing.T, base string, n float64) {
	t.Helper()
	const stored = "kscope_self_profile_windows_stored_total{}"
	want := scrape(t, base)[stored] + n
	for deadline := time.Now().Add(2 * time.Minute); scrape(t, base)[stored] < want; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not store %v more profile windows in two minutes", n)
		}
	}
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
	}
}

func unixSecs(t time.Time) string { return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64) }

// profileGet fetches /api/v1/profile with q and extra key, value pairs.
func profileGet(t *testing.T, base string, q url.Values, kv ...string) string {
	t.Helper()
	v := url.Values{}
	for k, x := range q {
		v[k] = x
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	resp, err := http.Get(base + "/api/v1/profile?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/api/v1/profile?%s: %s\n%s", v.Encode(), resp.Status, body)
	}
	return string(body)
}

// leafShare is the share of the stacks' total whose leaf is fn.
func leafShare(stacks []profile.Folded, fn string) float64 {
	var all, hit int64
	for _, s := range stacks {
		all += s.Value
		if s.Frames[len(s.Frames)-1] == fn {
			hit += s.Value
		}
	}
	if all == 0 {
		return 0
	}
	return float64(hit) / float64(all)
}

type jsonNode struct {
	Name     string
	Value    int64
	Base     int64
	Children []jsonNode
}

// sum adds up value and base of the nodes named fn that are leaves.
func (n jsonNode) sum(fn string) [2]int64 {
	var out [2]int64
	if n.Name == fn {
		self := [2]int64{n.Value, n.Base}
		for _, c := range n.Children {
			self[0] -= c.Value
			self[1] -= c.Base
		}
		out = self
	}
	for _, c := range n.Children {
		s := c.sum(fn)
		out[0] += s[0]
		out[1] += s[1]
	}
	return out
}
