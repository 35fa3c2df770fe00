package top

import (
	"errors"
	"strconv"
	"time"

	"github.com/kscope/kscope/internal/metrics"
)

var descNetBytes = metrics.NewCounter("kscope_process_net_bytes_total",
	"Bytes a process received or sent on IPv4/IPv6 sockets, by direction (received, sent): the top-K processes by recent traffic among those that lived across a collection interval, "+
		"then per command name (comm; no pid, no start) for the top-K commands of the rest, the remainder in pid=\"other\". start is the process's start time (start_ns in its events): a reused pid is another series.",
	"pid", "comm", "direction", "start")

// exitedRetention is how long Collect keeps emitting the final counts of
// a process whose entry is gone from the kernel map: every collection in
// that time (the agent's and the /metrics scrapes) sees its last value.
const exitedRetention = 30 * time.Second

// netState is what Collect keeps per process between calls.
type netState struct {
	comm string
	row  metrics.Row
	gone time.Time // when its entry left the kernel map; zero while there
}

// Describe implements metrics.Source.
func (c *Collector) Describe() []*metrics.Desc {
	return []*metrics.Desc{descNetBytes}
}

// Collect implements metrics.Source: network bytes per process, the
// top-K processes by recent traffic kept, the rest summed in "other".
func (c *Collector) Collect(e *metrics.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.life.Running() || c.m.procs == nil {
		return ErrNotRunning
	}
	if c.full {
		return errors.New("top: the full collector is not a metric source")
	}
	snap, err := c.read()
	if err != nil {
		return err
	}
	now := time.Now()
	live := make(map[topProcKey]bool, len(snap.Procs))
	for _, p := range snap.Procs {
		if p.RxBytes == 0 && p.TxBytes == 0 {
			continue
		}
		k := topProcKey{Tgid: p.PID, StartNs: p.StartNs}
		live[k] = !p.Exited
		s := c.state[k]
		if s == nil || s.comm != p.Comm {
			pid := strconv.FormatUint(uint64(p.PID), 10)
			// A new row: TopK may hold on to the old one's labels.
			s = &netState{comm: p.Comm, row: metrics.Row{
				Key:    pid + ":" + strconv.FormatUint(p.StartNs, 10),
				Labels: []string{pid, p.Comm, strconv.FormatUint(p.StartNs, 10)},
				Values: make([]float64, 3),
			}}
			if p.Comm != "" {
				s.row.Group = []string{"", p.Comm, ""}
			}
			c.state[k] = s
		}
		s.row.Values[0] = float64(p.RxBytes + p.TxBytes)
		s.row.Values[1] = float64(p.RxBytes)
		s.row.Values[2] = float64(p.TxBytes)
	}
	c.rows = c.rows[:0]
	for k, s := range c.state {
		l, ok := live[k]
		if !ok {
			// Ended and deleted: its final counts stay for a while.
			if s.gone.IsZero() {
				s.gone = now
			}
			if now.Sub(s.gone) > exitedRetention {
				delete(c.state, k)
				continue
			}
		}
		s.row.Live = l
		c.rows = append(c.rows, s.row)
	}
	kept, other := c.topK.Select(c.rows)
	for _, r := range kept {
		e.Counter(descNetBytes, r.Values[1], r.Labels[0], r.Labels[1], "received", r.Labels[2])
		e.Counter(descNetBytes, r.Values[2], r.Labels[0], r.Labels[1], "sent", r.Labels[2])
	}
	u := snap.Untracked
	if other != nil || u.RxBytes+u.TxBytes > 0 {
		var rx, tx float64
		if other != nil {
			rx, tx = other[1], other[2]
		}
		e.Counter(descNetBytes, rx+float64(u.RxBytes), "other", "other", "received", "")
		e.Counter(descNetBytes, tx+float64(u.TxBytes), "other", "other", "sent", "")
	}
	return nil
}
