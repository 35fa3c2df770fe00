package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/api"
	_ "github.com/kscope/kscope/internal/collector/exec"
	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/testutil"
)

func execEvent(pid uint32, comm string) *event.Exec {
	return &event.Exec{Header: event.Header{Time: time.Now(), Type: "exec", PID: pid, Comm: comm}, Filename: "/usr/bin/" + comm, Argv: []string{comm, "--Flag"}}
}

// The fan-out filters per subscriber, never blocks the publisher, and
// counts what a full subscriber missed.
func TestLiveFanOut(t *testing.T) {
	l := newLive()
	l.publish(execEvent(1, "nobody-listens")) // no subscriber: nothing to do
	all, _ := l.Subscribe(api.LiveFilter{})
	byPID, _ := l.Subscribe(api.LiveFilter{PID: 7})
	byComm, _ := l.Subscribe(api.LiveFilter{Type: "exec", Comm: "curl"})
	byText, _ := l.Subscribe(api.LiveFilter{Text: "--flag"})
	byType, _ := l.Subscribe(api.LiveFilter{Type: "exit"})

	l.publish(execEvent(7, "bash"))
	l.publish(execEvent(8, "curl"))
	l.publish(&event.Exit{Header: event.Header{Time: time.Now(), Type: "exit", PID: 7, Comm: "bash"}, ExitCode: 1})

	recv := func(s api.LiveSubscription) []string {
		var out []string
		for {
			select {
			case b := <-s.Events():
				var h event.Header
				if err := json.Unmarshal(b, &h); err != nil {
					t.Fatalf("%s: %v", b, err)
				}
				out = append(out, fmt.Sprintf("%s/%d/%s", h.Type, h.PID, h.Comm))
			default:
				return out
			}
		}
	}
	for _, c := range []struct {
		name string
		s    api.LiveSubscription
		want string
	}{
		{"all", all, "exec/7/bash exec/8/curl exit/7/bash"},
		{"pid", byPID, "exec/7/bash exit/7/bash"},
		{"comm", byComm, "exec/8/curl"},
		{"text (case-insensitive)", byText, "exec/7/bash exec/8/curl"},
		{"type", byType, "exit/7/bash"},
	} {
		if got := strings.Join(recv(c.s), " "); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}

	// A subscriber that does not read loses what overflows its buffer.
	for i := range liveBuffer + 25 {
		l.publish(execEvent(uint32(100+i), "storm"))
	}
	if d := all.Dropped(); d != 25 {
		t.Errorf("dropped %d, want 25", d)
	}
	if n := len(recv(all)); n != liveBuffer {
		t.Errorf("buffered %d, want %d", n, liveBuffer)
	}
	if byComm.Dropped() != 0 {
		t.Errorf("a subscriber the storm did not match dropped %d", byComm.Dropped())
	}

	byPID.Close()
	byPID.Close() // idempotent
	if _, ok := <-byPID.Events(); ok {
		t.Error("closed subscription still delivers")
	}
	for range liveSubscribers - 4 {
		if _, err := l.Subscribe(api.LiveFilter{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Subscribe(api.LiveFilter{}); err != api.ErrTooManySubscribers {
		t.Errorf("subscriber %d: %v, want ErrTooManySubscribers", liveSubscribers+1, err)
	}
	l.close()
	if _, ok := <-all.Events(); ok {
		t.Error("close left a stream open")
	}
	all.Close() // after close: no panic
	if _, err := l.Subscribe(api.LiveFilter{}); err == nil {
		t.Error("subscribed after close")
	}
}

// TestMain lets the test binary stand in for a program: with
// KSCOPE_AGENT_TEST_EXIT set it exits at once; with KSCOPE_AGENT_TEST_OOM
// it is a memory hog.
func TestMain(m *testing.M) {
	if os.Getenv("KSCOPE_AGENT_TEST_EXIT") != "" {
		os.Exit(0)
	}
	if procs := os.Getenv("KSCOPE_AGENT_TEST_OOM"); procs != "" {
		os.Exit(hog(procs)) // a memory hog (shipped_rules_test.go)
	}
	os.Exit(m.Run())
}

// uniqueProgram links the test binary under a name no other process has
// (the kernel names a process after the file it execs); run it with
// KSCOPE_AGENT_TEST_EXIT=1.
func uniqueProgram(t *testing.T, prefix string) (path, comm string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	comm = fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1e6)
	path = filepath.Join(t.TempDir(), comm)
	if err := os.Symlink(self, path); err != nil {
		t.Fatal(err)
	}
	return path, comm
}

// sse reads a Server-Sent Events stream into (event, data) pairs.
func sse(r io.Reader, out chan<- [2]string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	ev, data := "", ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" || ev != "" {
				if ev == "" {
					ev = "message"
				}
				out <- [2]string{ev, data}
			}
			ev, data = "", ""
		case strings.HasPrefix(line, "event: "):
			ev = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		case strings.HasPrefix(line, ":"):
			out <- [2]string{"comment", line}
		}
	}
	close(out)
}

// The live stream delivers real exec events as the agent ingests them,
// filtered, and ends when the agent stops.
func TestLiveStream(t *testing.T) {
	testutil.RequireBPF(t)
	a, err := Start(context.Background(), testConfig(t, "exec"), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	base := "http://" + a.Addr().String()

	for q, want := range map[string]string{"type=bogus": "unknown event type", "pid=abc": "want a process id", "pid=0": "want a process id"} {
		resp, err := http.Get(base + "/api/v1/events/stream?" + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s", q, resp.StatusCode, b)
		}
	}

	path, comm := uniqueProgram(t, "kssse")
	resp, err := http.Get(base + "/api/v1/events/stream?type=exec&comm=" + comm)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers: %v", resp.Header)
	}
	msgs := make(chan [2]string, 100)
	go sse(resp.Body, msgs)
	next := func() [2]string {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("stream ended")
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no message in 10s")
		}
		return [2]string{}
	}
	if m := next(); m[0] != "comment" {
		t.Fatalf("first message %v, want the opening comment", m)
	}
	// Other processes run too; only ours may come through.
	self, _ := os.Executable()
	run := func(prog string) {
		cmd := exec.Command(prog, "sse-arg")
		cmd.Env = append(os.Environ(), "KSCOPE_AGENT_TEST_EXIT=1")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
	}
	run(self)
	const runs = 3
	for range runs {
		run(path)
	}
	for i := range runs {
		m := next()
		for m[0] == "comment" {
			m = next()
		}
		var ev event.Exec
		if err := json.Unmarshal([]byte(m[1]), &ev); err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		if m[0] != "message" || ev.Type != "exec" || ev.Comm != comm || ev.Filename != path || len(ev.Argv) != 2 || ev.Argv[1] != "sse-arg" || ev.PID == 0 {
			t.Fatalf("event %d: %v", i, m)
		}
	}
	// Stopping the agent ends the stream with an end event.
	go a.Close()
	for {
		m := next()
		if m[0] == "end" {
			break
		}
		if m[0] == "message" {
			t.Fatalf("unexpected event %v", m)
		}
	}
}

// /api/v1/status/agent and /api/v1/doctor report the running agent.
func TestStatusAndDoctor(t *testing.T) {
	testutil.RequireBPF(t)
	a, err := Start(context.Background(), testConfig(t, "exit", "broken"), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	base := "http://" + a.Addr().String()
	getData := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct {
			Status string
			Data   json.RawMessage
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
			t.Fatalf("%s: %v %+v", path, err, r)
		}
		if err := json.Unmarshal(r.Data, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var st agentStatus
	getData("/api/v1/status/agent", &st)
	if st.IntervalSeconds != 1 || st.CPUs < 1 || st.Kernel == "" || len(st.Collectors) != 2 {
		t.Fatalf("status %+v", st)
	}
	if st.BPFStatsError == "" && (st.BPFStatsWindowSeconds != 1 || st.BPFStatsEverySeconds != 60) {
		t.Errorf("BPF statistics sampled %v s every %v s, want the default 1 s every 60 s", st.BPFStatsWindowSeconds, st.BPFStatsEverySeconds)
	}
	if c := st.Collectors[0]; c.Name != "broken" || c.Running || !strings.Contains(c.Error, "missing on this kernel") || len(c.Notes) != 1 {
		t.Errorf("broken collector %+v", c)
	}
	if c := st.Collectors[1]; c.Name != "exit" || !c.Running || c.Error != "" {
		t.Errorf("exit collector %+v", c)
	}
	var doc struct {
		OK       bool
		Kernel   string
		Features []struct {
			Name      string
			Supported bool
		}
	}
	getData("/api/v1/doctor", &doc)
	if !doc.OK || doc.Kernel != st.Kernel || len(doc.Features) < 10 {
		t.Fatalf("doctor %+v", doc)
	}
	for _, f := range doc.Features {
		if f.Name == "tracepoint" && !f.Supported {
			t.Errorf("doctor says tracepoints do not work: %+v", f)
		}
	}
}

// A client that does not keep up is told how many events it missed.
func TestLiveStreamReportsDrops(t *testing.T) {
	testutil.RequireBPF(t)
	a, err := Start(context.Background(), testConfig(t), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	resp, err := http.Get("http://" + a.Addr().String() + "/api/v1/events/stream?comm=flood")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msgs := make(chan [2]string)
	// Nothing reads the stream yet: the socket buffers fill, then the
	// subscriber's buffer, then events are dropped.
	const n = 200_000
	for deadline := time.Now().Add(5 * time.Second); a.ui.live.n.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no subscriber")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range n {
		a.ui.live.publish(execEvent(uint32(i+1), "flood"))
	}
	go sse(resp.Body, msgs)
	got, dropped := 0, 0
	for deadline := time.After(20 * time.Second); dropped == 0 || got+dropped < n; {
		select {
		case m := <-msgs:
			switch m[0] {
			case "message":
				got++
			case "dropped":
				var d struct{ Dropped int }
				if err := json.Unmarshal([]byte(m[1]), &d); err != nil {
					t.Fatalf("%v: %v", m, err)
				}
				dropped = d.Dropped
			}
		case <-deadline:
			t.Fatalf("after 20 s: %d events, %d reported dropped, of %d", got, dropped, n)
		}
	}
	if got+dropped != n || dropped == 0 {
		t.Errorf("%d events + %d dropped, want %d in all", got, dropped, n)
	}
	t.Logf("%d delivered, %d dropped", got, dropped)
}
