package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/store"
)

// eventRate answers /api/v1/events/rate?since=1h&until=…&step=15&type=…&pid=…&start=…&match=…&q=…
// with the events per second of each type in each step, counted over every
// stored event that matches (not a page of them), as a Prometheus matrix:
// {"resultType":"matrix","result":[{"metric":{"type":"exec"},"total":N,
// "values":[[t,"rate"],…]}]}. A point's time is its step's start; every
// step of the range has a point.
func (s *Server) eventRate(w http.ResponseWriter, r *http.Request) {
	if e := form(r); e != nil {
		writeError(w, e)
		return
	}
	now := time.Now()
	q, e := selection(r, now)
	if e != nil {
		writeError(w, e)
		return
	}
	if q.Since.IsZero() {
		q.Since = now.Add(-time.Hour)
	}
	if q.Until.IsZero() {
		q.Until = now
	}
	if !q.Until.After(q.Since) {
		writeError(w, badData("invalid parameter \"until\": the range ends before it starts"))
		return
	}
	step := time.Minute
	if v := r.Form.Get("step"); v != "" {
		d, err := parseDuration(v)
		if err != nil || d <= 0 {
			writeError(w, badData("invalid parameter \"step\": want a positive duration or seconds, not %q", v))
			return
		}
		step = d
	}
	if q.Until.Sub(q.Since)/step >= store.MaxCountSteps {
		writeError(w, badData("exceeded maximum resolution of %d points per series: try a larger step", store.MaxCountSteps))
		return
	}
	ctx, cancel, e := s.queryContext(r)
	if e != nil {
		writeError(w, e)
		return
	}
	defer cancel()
	if e := s.evGate.enter(ctx); e != nil {
		writeError(w, e)
		return
	}
	defer s.evGate.leave()
	c, err := s.Events.CountEvents(ctx, q, step)
	if err != nil {
		writeError(w, storeError(ctx, err))
		return
	}
	b := append(make([]byte, 0, 1024), `{"resultType":"matrix","result":[`...)
	first := true
	for _, typ := range typesOf(c.ByType) {
		counts := c.ByType[typ]
		if !first {
			b = append(b, ',')
		}
		first = false
		var total uint64
		for _, n := range counts {
			total += n
		}
		b = append(b, `{"metric":{"type":`...)
		b = event.AppendString(b, typ)
		b = append(b, `},"total":`...)
		b = strconv.AppendUint(b, total, 10)
		b = append(b, `,"values":[`...)
		for i, n := range counts {
			if i > 0 {
				b = append(b, ',')
			}
			t := c.Start.Add(time.Duration(i) * c.Step)
			b = appendPoint(b, t.UnixMilli(), float64(n)/c.Step.Seconds())
		}
		b = append(b, "]}"...)
	}
	b = append(b, "]}"...)
	writeData(w, b, nil)
}

// typesOf returns the event types of m in the order of the kind registry.
func typesOf(m map[string][]uint64) []string {
	var out []string
	for _, k := range event.KindNames() {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}
