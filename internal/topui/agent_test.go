package topui

import (
	"encoding/json"
	"maps"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/client"
)

// vector reads the data object of a query's answer.
func vector(data string) ([]sample, error) {
	return parseVector(&client.Result{Data: json.RawMessage(data)})
}

func TestParseVector(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []sample
		err        string
	}{
		{"two", `{"resultType":"vector","result":[
			{"metric":{"m":"cpu","pid":"12","comm":"a"},"value":[1700000000.5,"0.25"]},
			{"metric":{"m":"up","collector":"procnet"},"value":[1700000000.5,"1"]}]}`,
			[]sample{{map[string]string{"m": "cpu", "pid": "12", "comm": "a"}, 0.25}, {map[string]string{"m": "up", "collector": "procnet"}, 1}}, ""},
		{"empty", `{"resultType":"vector","result":[]}`, []sample{}, ""},
		{"matrix", `{"resultType":"matrix","result":[]}`, nil, "matrix"},
		{"not json", `<html>404</html>`, nil, "decoding the result"},
		{"number value", `{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}`, nil, "sample value must be a quoted string"},
		{"bad float", `{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}`, nil, `invalid syntax`},
	} {
		got, err := vector(tc.body)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%s: %v, %v", tc.name, got, err)
			continue
		}
		for i := range got {
			if got[i].Value != tc.want[i].Value || len(got[i].Metric) != len(tc.want[i].Metric) {
				t.Errorf("%s: sample %d = %+v, want %+v", tc.name, i, got[i], tc.want[i])
			}
			for k, v := range tc.want[i].Metric {
				if got[i].Metric[k] != v {
					t.Errorf("%s: sample %d label %s = %q, want %q", tc.name, i, k, got[i].Metric[k], v)
				}
			}
		}
	}
}

func FuzzParseVector(f *testing.F) {
	f.Add([]byte(`{"resultType":"vector","result":[{"metric":{"pid":"1"},"value":[1,"2"]}]}`))
	f.Add([]byte(`{"resultType":"scalar","result":[1,"2"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := vector(string(b))
		if err != nil {
			return
		}
		buildFrame(ss, ss) // must not panic on any labels or values
		// What it read, answered again as the Prometheus API does, reads
		// the same.
		type result struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		var again struct {
			ResultType string   `json:"resultType"`
			Result     []result `json:"result"`
		}
		again.ResultType = "vector"
		again.Result = []result{}
		for _, s := range ss {
			again.Result = append(again.Result, result{s.Metric, [2]any{1.5, strconv.FormatFloat(s.Value, 'f', -1, 64)}})
		}
		body, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		back, err := vector(string(body))
		if err != nil || len(back) != len(ss) {
			t.Fatalf("%q read as %v answered as %s reads %v, %v", b, ss, body, back, err)
		}
		for i := range ss {
			same := back[i].Value == ss[i].Value || math.IsNaN(back[i].Value) && math.IsNaN(ss[i].Value)
			if !same || len(back[i].Metric) != len(ss[i].Metric) || !maps.Equal(back[i].Metric, ss[i].Metric) && len(ss[i].Metric) > 0 {
				t.Fatalf("%q sample %d: %v answered as %s reads %v", b, i, ss[i], body, back[i])
			}
		}
	})
}

func s(v float64, kv ...string) sample {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return sample{m, v}
}

func TestBuildFrame(t *testing.T) {
	rows := []sample{
		s(0.5, "m", "cpu", "pid", "20", "comm", "nginx"),
		s(900, "m", "sys", "pid", "20", "comm", "nginx"),
		s(100, "m", "rx", "pid", "20", "comm", "nginx"),
		s(200, "m", "tx", "pid", "20", "comm", "nginx"),
		s(4096, "m", "read", "pid", "7", "comm", "cat"),
		s(8192, "m", "write", "pid", "7", "comm", "cat"),
		s(1, "m", "cpu", "pid", "other", "comm", "other"), // not a pid: left out
	}
	host := []sample{
		s(0.75, "m", "cpu"), s(2, "m", "cpus"), s(1500, "m", "sys"), s(4096, "m", "read"), s(8192, "m", "write"),
		s(100, "m", "rx"), s(200, "m", "tx"), s(0.002, "m", "runq"), s(150, "m", "procs"), s(3, "m", "lost"),
		s(1, "m", "up", "collector", "process"), s(1, "m", "up", "collector", "syscalls"), s(1, "m", "up", "collector", "fileio"),
		s(0, "m", "up", "collector", "procnet"), // failed
		// sched not running at all
	}
	f := buildFrame(rows, host)
	if len(f.Rows) != 2 || f.Rows[0].PID != 7 || f.Rows[1].PID != 20 {
		t.Fatalf("rows: %+v", f.Rows)
	}
	cat, nginx := f.Rows[0], f.Rows[1]
	if cat.Comm != "cat" || cat.Read != 4096 || cat.Write != 8192 || cat.CPU != 0 {
		t.Errorf("cat: %+v", cat)
	}
	if nginx.Comm != "nginx" || nginx.CPU != 0.5 || nginx.Syscalls != 900 || nginx.Rx != 100 || nginx.Tx != 200 {
		t.Errorf("nginx: %+v", nginx)
	}
	h := f.Host
	if h.CPU != 0.75 || h.CPUs != 2 || h.Syscalls != 1500 || h.Read != 4096 || h.Write != 8192 || h.Rx != 100 || h.Tx != 200 ||
		h.RunqP99 != 0.002 || h.Procs != 150 || h.Lost != 3 || h.Running != -1 {
		t.Errorf("host: %+v", h)
	}
	if len(h.Missing) != 2 || !strings.Contains(h.Missing[0], "procnet") || !strings.Contains(h.Missing[1], "sched") {
		t.Errorf("missing: %v", h.Missing)
	}
}

func TestQueries(t *testing.T) {
	for _, want := range []string{
		`label_replace(sum by (pid, comm) (irate(kscope_process_cpu_seconds_total{pid!="other"}[120s])), "m", "cpu", "", "")`,
		`sum by (pid, comm) (irate(kscope_process_net_bytes_total{pid!="other",direction="sent"}[120s]))`,
	} {
		if !strings.Contains(rowsQuery, want) {
			t.Errorf("rows query lacks %s:\n%s", want, rowsQuery)
		}
	}
	if !strings.Contains(hostQuery, `label_replace(sum (irate(kscope_syscalls_total[120s])), "m", "sys", "", "")`) {
		t.Errorf("host query: %s", hostQuery)
	}
}

func TestSyscallRates(t *testing.T) {
	got := syscallRates([]sample{
		s(5, "m", "rate", "syscall", "read"), s(100, "m", "total", "syscall", "read"),
		s(50, "m", "rate", "syscall", "write"), s(60, "m", "total", "syscall", "write"),
		s(900, "m", "total", "syscall", "close"), // no rate: idle now
	})
	if len(got) != 3 || got[0].Name != "write" || got[0].Rate != 50 || got[0].Total != 60 || got[1].Name != "read" || got[2].Name != "close" || got[2].Total != 900 {
		t.Errorf("syscallRates: %+v", got)
	}
}

func TestEventLines(t *testing.T) {
	events := []json.RawMessage{
		json.RawMessage(`{"time":"2026-01-02T03:04:05.123456789Z","type":"exec","pid":42,"tid":42,"ppid":1,"uid":0,"comm":"sh","cgroup_id":1,
		 "filename":"/bin/sh","argv":["sh","-c","true"],"argv_truncated":false,"ret":0}`),
		json.RawMessage(`{"time":"2026-01-02T03:04:06Z","type":"exit","pid":42,"tid":42,"ppid":1,"uid":0,"comm":"sh","cgroup_id":1,
		 "exit_code":0,"signal":0,"core_dumped":false,"duration_ns":1500000}`),
	}
	got, err := eventLines(events)
	if err != nil || len(got) != 2 {
		t.Fatalf("eventLines: %v, %v", got, err)
	}
	if !strings.HasSuffix(got[0], "exec    filename=/bin/sh argv=[sh -c true]") {
		t.Errorf("exec line: %q", got[0])
	}
	if !strings.HasSuffix(got[1], "exit    exit_code=0 duration_ns=1500000") {
		t.Errorf("exit line: %q", got[1])
	}
	if _, err := eventLines([]json.RawMessage{json.RawMessage(`[`)}); err == nil || !strings.HasPrefix(err.Error(), "decoding an event: ") {
		t.Errorf("not json: %v", err)
	}
}

func FuzzEventLines(f *testing.F) {
	f.Add([]byte(`{"time":"x","type":"exec","argv":["a"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := eventLines([]json.RawMessage{b})
		if err == nil {
			for _, l := range lines {
				if strings.Contains(l, "\n") && !strings.Contains(string(b), `\n`) && !strings.Contains(string(b), "\n") {
					t.Errorf("line break in %q", l)
				}
			}
		}
	})
}

func TestNewAgentSource(t *testing.T) {
	for _, tc := range []struct {
		url   string
		local bool
	}{
		{"http://127.0.0.1:9464", true},
		{"http://localhost:9464/", true},
		{"http://[::1]:9464", true},
		{"https://metrics.example.com", false},
		{"http://10.0.0.5:9464", false},
	} {
		c, err := client.New(tc.url, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		a := NewAgentSource(c)
		if (a.Proc != nil) != tc.local {
			t.Errorf("%q: local /proc %v, want %v", tc.url, a.Proc != nil, tc.local)
		}
		if want := "agent " + strings.TrimRight(tc.url, "/"); a.Describe() != want {
			t.Errorf("%q: %q, want %q", tc.url, a.Describe(), want)
		}
	}
}
