package topui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kscope/kscope/internal/client"
)

// AgentWindow is the range of the agent's rate queries. irate uses the last
// two samples in it, so rates follow the agent's own interval (up to half
// of this), and a process gone leaves with its series' staleness marker.
const AgentWindow = 2 * time.Minute

// Agent collectors whose families the view reads, and what the view lacks
// without them.
var agentCollectors = []struct{ name, what string }{
	{"process", "CPU per process (collector process)"},
	{"syscalls", "syscalls per process (collector syscalls)"},
	{"fileio", "file bytes per process (collector fileio)"},
	{"procnet", "network bytes per process (collector procnet)"},
	{"sched", "CPU count and run-queue wait (collector sched)"},
}

// AgentSource reads a running kscope agent's per-process families through
// its PromQL API.
type AgentSource struct {
	Client *client.Client
	// Proc reads the detail view's /proc fields when the agent runs on
	// this host (a loopback URL); nil otherwise.
	Proc *ProcFS
	// Match holds label matchers that select the rows' series, e.g.
	// container_name="web" (kscope top --container); "": every process.
	Match string
}

// AgentTimeout is what the view waits for one answer of the agent.
const AgentTimeout = 10 * time.Second

// NewAgentSource returns a source over the agent c calls. /proc is read
// for the detail view when the agent's URL is a loopback address.
func NewAgentSource(c *client.Client) *AgentSource {
	a := &AgentSource{Client: c}
	if u, err := url.Parse(c.URL()); err == nil && isLoopback(u.Hostname()) {
		a.Proc = &ProcFS{}
	}
	return a
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Describe implements Source.
func (a *AgentSource) Describe() string { return "agent " + a.Client.URL() }

// Close implements Source.
func (a *AgentSource) Close() error { return nil }

// sample is one element of an instant vector.
type sample struct {
	Metric map[string]string
	Value  float64
}

// query evaluates expr at now.
func (a *AgentSource) query(ctx context.Context, expr string) ([]sample, error) {
	ctx, cancel := context.WithTimeout(ctx, AgentTimeout)
	defer cancel()
	r, err := a.Client.Query(ctx, expr, time.Time{})
	if e := (*client.Error)(nil); errors.As(err, &e) {
		return nil, fmt.Errorf("query failed: %w", err)
	}
	if err != nil {
		return nil, err
	}
	return parseVector(r)
}

// parseVector reads a query's answer, which must be an instant vector.
func parseVector(r *client.Result) ([]sample, error) {
	vec, err := r.Vector()
	if err != nil {
		return nil, err
	}
	out := make([]sample, 0, len(vec))
	for _, s := range vec {
		m := make(map[string]string, len(s.Metric))
		for k, v := range s.Metric {
			m[string(k)] = string(v)
		}
		out = append(out, sample{m, float64(s.Value)})
	}
	return out, nil
}

// tagged joins per-family queries into one with "or", each result marked
// with label m: one round trip, one evaluation time.
func tagged(parts ...[2]string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(" or ")
		}
		fmt.Fprintf(&b, `label_replace(%s, "m", %q, "", "")`, p[1], p[0])
	}
	return b.String()
}

// irate sums the per-second rate of family's series selected by match,
// by the labels in by (none: one total).
func irate(family, match, by string) string {
	sel := family
	if match != "" {
		sel += "{" + match + "}"
	}
	sum := "sum"
	if by != "" {
		sum += " by (" + by + ")"
	}
	return fmt.Sprintf("%s (irate(%s[%ds]))", sum, sel, int(AgentWindow.Seconds()))
}

// rowsQuery asks for every per-process rate, by pid and comm.
var rowsQuery = rowsQueryMatching("")

// rowsQueryMatching asks for the per-process rates of the series that
// the label matchers m select too.
func rowsQueryMatching(m string) string {
	if m != "" {
		m = "," + m
	}
	return tagged(
		[2]string{"cpu", irate("kscope_process_cpu_seconds_total", `pid!="other"`+m, "pid, comm")},
		[2]string{"sys", irate("kscope_process_syscalls_total", `pid!="other"`+m, "pid, comm")},
		[2]string{"read", irate("kscope_fileio_read_bytes_total", `pid!="other"`+m, "pid, comm")},
		[2]string{"write", irate("kscope_fileio_write_bytes_total", `pid!="other"`+m, "pid, comm")},
		[2]string{"rx", irate("kscope_process_net_bytes_total", `pid!="other",direction="received"`+m, "pid, comm")},
		[2]string{"tx", irate("kscope_process_net_bytes_total", `pid!="other",direction="sent"`+m, "pid, comm")},
	)
}

// hostQuery asks for the host's totals (the "other" series included) and
// which collectors run.
var hostQuery = tagged(
	[2]string{"cpu", irate("kscope_process_cpu_seconds_total", "", "")},
	[2]string{"cpus", "count(count by (cpu) (kscope_sched_context_switches_total))"},
	[2]string{"sys", irate("kscope_syscalls_total", "", "")},
	[2]string{"read", irate("kscope_fileio_read_bytes_total", "", "")},
	[2]string{"write", irate("kscope_fileio_write_bytes_total", "", "")},
	[2]string{"rx", irate("kscope_process_net_bytes_total", `direction="received"`, "")},
	[2]string{"tx", irate("kscope_process_net_bytes_total", `direction="sent"`, "")},
	[2]string{"runq", fmt.Sprintf("histogram_quantile(0.99, sum by (le) (rate(kscope_sched_runqueue_latency_seconds_bucket[%ds])))", int(AgentWindow.Seconds()))},
	[2]string{"procs", "sum(kscope_processes)"},
	[2]string{"lost", "sum(kscope_self_ringbuf_lost_total)"},
	[2]string{"up", "kscope_self_collector_up"},
)

// Frame implements Source.
func (a *AgentSource) Frame(ctx context.Context) (*Frame, error) {
	q := rowsQuery
	if a.Match != "" {
		q = rowsQueryMatching(a.Match)
	}
	rows, err := a.query(ctx, q)
	if err != nil {
		return nil, err
	}
	host, err := a.query(ctx, hostQuery)
	if err != nil {
		return nil, err
	}
	f := buildFrame(rows, host)
	f.At = time.Now()
	if a.Proc != nil {
		a.Proc.Enrich(f.Rows)
		var h Host
		a.Proc.Host(&h)
		f.Host.Load, f.Host.Running = h.Load, h.Running
	}
	return f, nil
}

// buildFrame assembles the answers of rowsQuery and hostQuery.
func buildFrame(rows, host []sample) *Frame {
	f := &Frame{Interval: 0}
	byPID := map[uint32]*Row{}
	var order []uint32
	for _, s := range rows {
		pid64, err := strconv.ParseUint(s.Metric["pid"], 10, 32)
		if err != nil {
			continue
		}
		pid := uint32(pid64)
		r := byPID[pid]
		if r == nil {
			r = &Row{PID: pid, Comm: s.Metric["comm"]}
			byPID[pid] = r
			order = append(order, pid)
		}
		if r.Comm == "" {
			r.Comm = s.Metric["comm"]
		}
		v := s.Value
		if math.IsNaN(v) {
			continue
		}
		switch s.Metric["m"] {
		case "cpu":
			r.CPU = v
		case "sys":
			r.Syscalls = v
		case "read":
			r.Read = v
		case "write":
			r.Write = v
		case "rx":
			r.Rx = v
		case "tx":
			r.Tx = v
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	for _, pid := range order {
		f.Rows = append(f.Rows, *byPID[pid])
	}
	h := &f.Host
	h.Running, h.RunqP99 = -1, -1
	up := map[string]bool{}
	for _, s := range host {
		v := s.Value
		switch s.Metric["m"] {
		case "cpu":
			h.CPU = v
		case "cpus":
			h.CPUs = int(v)
		case "sys":
			h.Syscalls = v
		case "read":
			h.Read = v
		case "write":
			h.Write = v
		case "rx":
			h.Rx = v
		case "tx":
			h.Tx = v
		case "runq":
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				h.RunqP99 = v
			}
		case "procs":
			h.Procs = int(v)
		case "lost":
			h.Lost = uint64(v)
		case "up":
			up[s.Metric["collector"]] = v == 1
		}
	}
	for _, c := range agentCollectors {
		if !up[c.name] {
			h.Missing = append(h.Missing, c.what)
		}
	}
	return f
}

// Detail implements Source: the process's syscalls from the agent's
// per-process family, its recent stored events, and /proc when the agent
// is local.
func (a *AgentSource) Detail(ctx context.Context, pid uint32) (*Detail, error) {
	d := &Detail{PID: pid, OpenFiles: -1}
	p := strconv.FormatUint(uint64(pid), 10)
	if a.Proc != nil {
		a.Proc.Detail(pid, d)
	} else {
		d.Problems = append(d.Problems, "the agent is on another host: no /proc details")
	}
	ss, err := a.query(ctx, tagged(
		[2]string{"rate", irate("kscope_process_syscalls_total", `pid="`+p+`"`, "syscall, comm")},
		[2]string{"total", `sum by (syscall, comm) (kscope_process_syscalls_total{pid="` + p + `"})`},
	))
	if err != nil {
		return d, err
	}
	d.Syscalls = syscallRates(ss)
	if d.Comm == "" {
		for _, s := range ss {
			d.Comm = s.Metric["comm"]
		}
	}
	d.SyscallsSince = "while the agent ran (its top K)"
	ev, err := a.events(ctx, p)
	if err != nil {
		d.Problems = append(d.Problems, "events: "+err.Error())
	}
	d.Events = ev
	return d, nil
}

func syscallRates(ss []sample) []SyscallRate {
	by := map[string]*SyscallRate{}
	for _, s := range ss {
		n := s.Metric["syscall"]
		r := by[n]
		if r == nil {
			r = &SyscallRate{Name: n}
			by[n] = r
		}
		if s.Metric["m"] == "rate" {
			r.Rate = s.Value
		} else {
			r.Total = s.Value
		}
	}
	out := make([]SyscallRate, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rate != out[j].Rate {
			return out[i].Rate > out[j].Rate
		}
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// events returns the process's events of the last hour, one line each.
func (a *AgentSource) events(ctx context.Context, pid string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, AgentTimeout)
	defer cancel()
	r, err := a.Client.Events(ctx, client.EventsQuery{Match: []string{"pid=" + pid}, Since: "1h", Limit: 20})
	if e := (*client.Error)(nil); errors.As(err, &e) {
		return nil, errors.New(e.Msg)
	}
	if err != nil {
		return nil, err
	}
	return eventLines(r.Events)
}

// headerFields are the fields every event has; an event line leaves them
// out but for the time and type.
var headerFields = map[string]bool{"time": true, "type": true, "pid": true, "tid": true, "ppid": true, "uid": true, "comm": true, "cgroup_id": true, "start_ns": true, "start_time": true, "parent_start_ns": true}

// eventLines renders stored events as lines: the time, the type, then
// the event's own fields, sorted.
func eventLines(events []json.RawMessage) ([]string, error) {
	var out []string
	for _, raw := range events {
		var ev map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("decoding an event: %w", err)
		}
		var ts, typ string
		json.Unmarshal(ev["time"], &ts)
		json.Unmarshal(ev["type"], &typ)
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			ts = t.Local().Format("15:04:05")
		}
		keys := make([]string, 0, len(ev))
		for k, v := range ev {
			if !headerFields[k] && (k == "exit_code" || !emptyValue(v)) {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool {
			pi, pj := fieldRank(keys[i]), fieldRank(keys[j])
			if pi != pj {
				return pi < pj
			}
			return keys[i] < keys[j]
		})
		parts := []string{ts, fmt.Sprintf("%-7s", typ)}
		for _, k := range keys {
			parts = append(parts, k+"="+eventValue(ev[k]))
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out, nil
}

// firstFields are the fields that say most about an event, shown first.
var firstFields = []string{"filename", "path", "exit_code", "signal", "daddr", "dport", "error"}

func fieldRank(k string) int {
	for i, f := range firstFields {
		if f == k {
			return i
		}
	}
	return len(firstFields)
}

// emptyValue reports a field that says nothing: false, "", 0, null.
func emptyValue(raw json.RawMessage) bool {
	switch strings.TrimSpace(string(raw)) {
	case "false", `""`, "0", "null", "[]":
		return true
	}
	return false
}

// eventValue renders a JSON value compactly: strings bare, lists of
// strings joined by spaces, anything else as JSON.
func eventValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var l []string
	if json.Unmarshal(raw, &l) == nil {
		return "[" + strings.Join(l, " ") + "]"
	}
	return string(raw)
}
