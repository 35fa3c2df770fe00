package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/kscope/kscope/internal/event"
	"github.com/kscope/kscope/internal/store"
)

// Bounds on the events API's match conditions: each is checked against
// every row a query scans.
const (
	MaxMatches    = 32
	MaxMatchBytes = 1024
)

// events answers /api/v1/events?type=exec&since=10m&until=...&limit=100&match=comm=bash&q=text
// with {"status":"success","data":{"events":[...],"truncated":false}}:
// the newest limit events in the window, oldest first. pid=N selects the
// events of the processes that had pid N; with start=NS (the start_ns of
// its events) too, those of the one process: pids are reused, a pid and
// start time are not.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if e := form(r); e != nil {
		writeError(w, e)
		return
	}
	q, e := selection(r, time.Now())
	if e != nil {
		writeError(w, e)
		return
	}
	if v := r.Form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > store.MaxLimit {
			writeError(w, badData("invalid parameter \"limit\": want 1 to %d", store.MaxLimit))
			return
		}
		q.Limit = n
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
	res, err := s.Events.Query(ctx, q)
	if err != nil {
		writeError(w, storeError(ctx, err))
		return
	}
	b := make([]byte, 0, 256*len(res.Events)+64)
	b = append(b, `{"events":[`...)
	for i, ev := range res.Events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev...)
	}
	b = append(b, `],"truncated":`...)
	b = strconv.AppendBool(b, res.Truncated)
	b = append(b, '}')
	writeData(w, b, nil)
}

// storeError answers a failed store query: stopped by ctx (timeout,
// client gone) or the store's fault.
func storeError(ctx context.Context, err error) *apiError {
	if ctx.Err() != nil {
		return contextError(ctx, "reading the store")
	}
	return &apiError{"internal", http.StatusInternalServerError, err}
}

// selection reads the parameters that select events: type, pid, start,
// since, until (zero when absent), match and q.
func selection(r *http.Request, now time.Time) (store.Query, *apiError) {
	q := store.Query{Type: r.Form.Get("type"), Match: r.Form["match"], Text: r.Form.Get("q")}
	var e *apiError
	if q.Since, e = sinceParam(r, "since", now); e != nil {
		return q, e
	}
	if q.Until, e = sinceParam(r, "until", now); e != nil {
		return q, e
	}
	if q.Type != "" && !known(q.Type) {
		return q, badData("invalid parameter \"type\": unknown event type %q", q.Type)
	}
	if v := r.Form.Get("pid"); v != "" {
		pid, err := strconv.ParseUint(v, 10, 32)
		if err != nil || pid == 0 {
			return q, badData("invalid parameter \"pid\": want a process id, not %q", v)
		}
		q.PID = uint32(pid)
	}
	if v := r.Form.Get("start"); v != "" {
		start, err := strconv.ParseUint(v, 10, 63)
		if err != nil || start == 0 {
			return q, badData("invalid parameter \"start\": want a process's start_ns, not %q", v)
		}
		q.StartNS = start
	}
	return q, checkFilters(q)
}

// checkFilters bounds and parses a query's match conditions and text.
func checkFilters(q store.Query) *apiError {
	if len(q.Match) > MaxMatches {
		return badData("invalid parameter \"match\": %d conditions, at most %d", len(q.Match), MaxMatches)
	}
	for _, m := range q.Match {
		if len(m) > MaxMatchBytes {
			return badData("invalid parameter \"match\": a condition of %d bytes, at most %d", len(m), MaxMatchBytes)
		}
		if _, err := store.ParseMatch(m); err != nil {
			return badData("invalid parameter \"match\": %v", err)
		}
	}
	if len(q.Text) > MaxMatchBytes {
		return badData("invalid parameter \"q\": %d bytes, at most %d", len(q.Text), MaxMatchBytes)
	}
	return nil
}

// known reports whether typ is a registered event kind, built in or built
// at run time.
func known(typ string) bool { return event.LookupKind(typ) != nil }

// sinceParam reads a time as a duration before now (10m, 1h), Unix
// seconds or RFC 3339.
func sinceParam(r *http.Request, name string, now time.Time) (time.Time, *apiError) {
	v := r.Form.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := parseDuration(v); err == nil && !isNumber(v) {
		return now.Add(-d), nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, badData("invalid parameter %q: want a duration ago (10m), Unix seconds or RFC 3339, not %q", name, v)
	}
	return t, nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
