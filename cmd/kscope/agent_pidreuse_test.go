package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// storedEvent is the part of a stored event the process tests read.
type storedEvent struct {
	Type          string   `json:"type"`
	PID           int      `json:"pid"`
	PPID          int      `json:"ppid"`
	Comm          string   `json:"comm"`
	StartNS       uint64   `json:"start_ns"`
	StartTime     string   `json:"start_time"`
	ParentStartNS uint64   `json:"parent_start_ns"`
	Filename      string   `json:"filename"`
	Argv          []string `json:"argv"`
	ExitCode      *int     `json:"exit_code"`
}

// apiEvents asks the agent's /api/v1/events.
func apiEvents(t *testing.T, base string, params url.Values) ([]storedEvent, error) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/events?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %d %s", params.Encode(), resp.StatusCode, body)
	}
	var r struct {
		Data struct{ Events []storedEvent }
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	return r.Data.Events, nil
}

// procStart waits for the exec event of pid in the agent's store and
// returns its process's start_ns, as the start label of its series has it.
func procStart(t *testing.T, base string, pid int) string {
	t.Helper()
	var start uint64
	eventually(t, fmt.Sprintf("an exec event of pid %d is stored", pid), func() error {
		evs, err := apiEvents(t, base, url.Values{"type": {"exec"}, "pid": {strconv.Itoa(pid)}})
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return fmt.Errorf("none yet")
		}
		start = evs[len(evs)-1].StartNS
		return nil
	})
	return strconv.FormatUint(start, 10)
}

// reusedPID is one run of two processes with one pid: the first ran and
// exited with code 1, the second runs until stdin is closed.
type reusedPID struct {
	pid           int
	first, second *exec.Cmd
	start1        string // the start label of the first's series
}

// labelValue returns the value of label in a series key as seriesKey
// builds it.
func labelValue(key, label string) string {
	_, rest, ok := strings.Cut(key, label+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// getppidWorkload is the getppid workload making n calls, then waiting for
// EOF on its stdin (closed by end) to exit with code.
func getppidWorkload(t *testing.T, n, code int) (cmd *exec.Cmd, end func()) {
	t.Helper()
	cmd = workload(t, "getppid", "KSCOPE_N="+strconv.Itoa(n), "KSCOPE_EXIT="+strconv.Itoa(code))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	return cmd, func() {
		in.Close()
		cmd.Wait()
	}
}

// startReusedPID runs the getppid workload twice with the same pid: first
// with n1 calls, exiting 1 once its series is in /metrics, then with n2,
// left running.
func startReusedPID(t *testing.T, base string, n1, n2 int) *reusedPID {
	t.Helper()
	for attempt := 0; attempt < 10; attempt++ {
		pid := testutil.FreePID(t)
		first, end1 := getppidWorkload(t, n1, 1)
		if !testutil.StartWithPID(t, first, pid) {
			end1()
			continue
		}
		// Its counts are in before it exits.
		var start1 string
		eventually(t, "the first process's calls are counted", func() error {
			for k, v := range scrape(t, base) {
				if strings.HasPrefix(k, "kscope_process_syscalls_total{") && labelValue(k, "pid") == strconv.Itoa(pid) &&
					labelValue(k, "syscall") == "getppid" && v == float64(n1) {
					start1 = labelValue(k, "start")
					return nil
				}
			}
			return fmt.Errorf("pid %d: no getppid series of %d calls", pid, n1)
		})
		end1()
		if code := first.ProcessState.ExitCode(); code != 1 {
			t.Fatalf("the first process exited %d, want 1", code)
		}
		second, end2 := getppidWorkload(t, n2, 0)
		if !testutil.StartWithPID(t, second, pid) {
			end2() // another fork took the pid in between
			continue
		}
		t.Cleanup(end2)
		return &reusedPID{pid: pid, first: first, second: second, start1: start1}
	}
	t.Fatal("no pid could be reused in 10 attempts: the host forks too fast")
	return nil
}

// TestAgentPIDReuse runs two processes with the same pid, one after the
// other, and checks that every surface tells them apart: the events carry
// distinct start times (the kernel's, as /proc has it), the store and the
// events API select each process by pid and start, and the per-process
// series of the two are two series, each with its own exact count.
func TestAgentPIDReuse(t *testing.T) {
	a := startAgent(t, t.TempDir(), "--topk", "1000")
	const n1, n2 = 1111, 2222
	r := startReusedPID(t, a.url, n1, n2)
	pid := strconv.Itoa(r.pid)

	// The CLI selects the first process's exit by pid and start.
	var exit1 struct {
		ExitCode int    `json:"exit_code"`
		StartNS  uint64 `json:"start_ns"`
	}
	eventually(t, "kscope events --pid --start shows the first process's exit", func() error {
		out := cli(t, "events", "--server", a.url, "--type", "exit", "--pid", pid, "--start", r.start1, "--json")
		if err := json.Unmarshal([]byte(out), &exit1); err != nil || exit1.ExitCode != 1 || strconv.FormatUint(exit1.StartNS, 10) != r.start1 {
			return fmt.Errorf("events: %q (%v)", out, err)
		}
		return nil
	})

	// Series: the two processes are two series of one pid and comm, told
	// apart by start, each with its exact count: the first's was in
	// /metrics while it ran (startReusedPID), the second's is now, and
	// PromQL has both (the first's last sample, before its series went
	// stale).
	comm := comm(t, r.pid)
	st1 := r.start1
	var st2 string
	eventually(t, "the second process's series in /metrics", func() error {
		for k, v := range scrape(t, a.url) {
			if strings.HasPrefix(k, "kscope_process_syscalls_total{") && labelValue(k, "pid") == pid && labelValue(k, "syscall") == "getppid" &&
				labelValue(k, "start") != st1 && v == n2 && labelValue(k, "comm") == comm {
				st2 = labelValue(k, "start")
				return nil
			}
		}
		return fmt.Errorf("pid %s: no getppid series of %d calls but the first's (start %s)", pid, n2, st1)
	})
	if st1 == "" || st2 == "" {
		t.Fatalf("start labels %q and %q", st1, st2)
	}
	eventually(t, "two getppid series of one pid through PromQL", func() error {
		res := instant(t, a.url, fmt.Sprintf(`last_over_time(kscope_process_syscalls_total{pid=%q,syscall="getppid"}[10m])`, pid), time.Time{})
		want := map[string]float64{
			fmt.Sprintf(`kscope_process_syscalls_total{comm=%q,pid=%q,start=%q,syscall="getppid"}`, comm, pid, st1): n1,
			fmt.Sprintf(`kscope_process_syscalls_total{comm=%q,pid=%q,start=%q,syscall="getppid"}`, comm, pid, st2): n2,
		}
		if len(res) != 2 {
			return fmt.Errorf("pid %s: %d getppid series, want 2: %v", pid, len(res), res)
		}
		for k, v := range want {
			if res[k] != v {
				return fmt.Errorf("%s = %v, want %v (all: %v)", k, res[k], v, res)
			}
		}
		return nil
	})
	// Events: each process has its exec, the first its exit too. All of a
	// process's events carry one start.
	var execs []storedEvent
	eventually(t, "both processes' execs are stored", func() error {
		var err error
		if execs, err = apiEvents(t, a.url, url.Values{"type": {"exec"}, "pid": {pid}}); err != nil {
			return err
		}
		if len(execs) != 2 {
			return fmt.Errorf("%d exec events of pid %s, want 2: %+v", len(execs), pid, execs)
		}
		return nil
	})
	s1, s2 := execs[0].StartNS, execs[1].StartNS
	if strconv.FormatUint(s1, 10) != st1 || strconv.FormatUint(s2, 10) != st2 {
		t.Fatalf("start_ns of the two execs: %d %d, want %s then %s as the series have them", s1, s2, st1, st2)
	}
	for i, e := range execs {
		wantFile := os.Args[0]
		if e.PID != r.pid || e.Filename != wantFile || e.PPID != os.Getpid() {
			t.Errorf("exec %d: pid %d ppid %d filename %q, want %d %d %q", i, e.PID, e.PPID, e.Filename, r.pid, os.Getpid(), wantFile)
		}
	}
	// The parent's start is this test process's: the events name it too.
	if want := selfStartNS(t, a.url); execs[0].ParentStartNS != want {
		t.Errorf("parent_start_ns %d, want this process's start %d", execs[0].ParentStartNS, want)
	}
	// The second process's start is the kernel's: /proc's starttime (in
	// clock ticks since boot) within a tick of it.
	testutil.CheckStartNS(t, r.pid, s2)

	for _, tc := range []struct {
		start     uint64
		types     string
		exitCodes string
	}{
		{s1, "exec exit", "1"},
		{s2, "exec", ""},
	} {
		var evs []storedEvent
		eventually(t, fmt.Sprintf("pid %s start %d: its exec and exit events", pid, tc.start), func() error {
			var err error
			params := url.Values{"pid": {pid}, "start": {strconv.FormatUint(tc.start, 10)}}
			if evs, err = apiEvents(t, a.url, params); err != nil {
				return err
			}
			var types, codes []string
			for _, e := range evs {
				if e.PID != r.pid || e.StartNS != tc.start {
					return fmt.Errorf("event of another process: %+v", e)
				}
				if e.Type == "exec" || e.Type == "exit" {
					types = append(types, e.Type)
				}
				if e.Type == "exit" {
					codes = append(codes, strconv.Itoa(*e.ExitCode))
				}
			}
			if got := strings.Join(types, " "); got != tc.types {
				return fmt.Errorf("types %q, want %q", got, tc.types)
			}
			if got := strings.Join(codes, " "); got != tc.exitCodes {
				return fmt.Errorf("exit codes %q, want %q", got, tc.exitCodes)
			}
			return nil
		})
	}

	// The CPU series of the running process carries its start too.
	eventually(t, "the CPU series of the second process", func() error {
		res := instant(t, a.url, fmt.Sprintf(`kscope_process_cpu_seconds_total{pid=%q,start=%q}`, pid, st2), time.Time{})
		if len(res) != 1 {
			return fmt.Errorf("%d series: %v", len(res), res)
		}
		return nil
	})
}

// selfStartNS is this test process's start_ns, from the events of the
// processes it started: their parent_start_ns, which the exec collector
// read from the kernel. A child of ours is started here to have one.
func selfStartNS(t *testing.T, base string) uint64 {
	t.Helper()
	child := exec.Command("/bin/true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	var start uint64
	eventually(t, "the exec of our /bin/true", func() error {
		evs, err := apiEvents(t, base, url.Values{"type": {"exec"}, "pid": {strconv.Itoa(child.Process.Pid)}})
		if err != nil {
			return err
		}
		// The pid may have been reused since: ours is /bin/true run by us.
		for _, e := range evs {
			if e.Filename == "/bin/true" && e.PPID == os.Getpid() {
				start = e.ParentStartNS
				return nil
			}
		}
		return fmt.Errorf("none yet: %+v", evs)
	})
	testutil.CheckStartNS(t, os.Getpid(), start)
	return start
}
