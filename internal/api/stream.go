package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// LiveFilter selects the live events a subscriber receives. Empty fields
// match everything.
type LiveFilter struct {
	Type string // event type: exec, exit, …
	PID  uint32 // 0: any
	Comm string // exact
	Text string // case-insensitive substring of the event's JSON
}

// Live is a source of events as the agent ingests them.
type Live interface {
	// Subscribe starts delivering the events f matches. It fails with
	// ErrTooManySubscribers when the source is at its limit.
	Subscribe(f LiveFilter) (LiveSubscription, error)
}

// LiveSubscription is one subscriber's view of the live events.
type LiveSubscription interface {
	// Events delivers each matching event as one line of JSON (the event
	// store's encoding). It is closed when the source stops.
	Events() <-chan []byte
	// Dropped counts events this subscriber missed because it was too slow
	// and its buffer was full.
	Dropped() uint64
	Close()
}

// ErrTooManySubscribers is returned by Live.Subscribe at the source's limit.
var ErrTooManySubscribers = errors.New("too many live event subscribers")

// SSE timing: drops are reported at most every dropReport, and an idle
// stream sends a comment every keepalive so proxies keep it open.
const (
	dropReport = time.Second
	keepalive  = 15 * time.Second
)

// stream answers /api/v1/events/stream?type=&pid=&comm=&q= with
// Server-Sent Events: one "message" per event (data: the event's JSON), a
// "dropped" event ({"dropped":N}, the running total) when the subscriber
// fell behind and events were dropped, and an "end" event when the agent
// stops.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if s.UI.Live == nil {
		writeError(w, &apiError{"unavailable", http.StatusNotFound, errors.New("live events are not available")})
		return
	}
	if e := form(r); e != nil {
		writeError(w, e)
		return
	}
	f := LiveFilter{Type: r.Form.Get("type"), Comm: r.Form.Get("comm"), Text: r.Form.Get("q")}
	if f.Type != "" && !known(f.Type) {
		writeError(w, badData("invalid parameter \"type\": unknown event type %q", f.Type))
		return
	}
	if v := r.Form.Get("pid"); v != "" {
		pid, err := strconv.ParseUint(v, 10, 32)
		if err != nil || pid == 0 {
			writeError(w, badData("invalid parameter \"pid\": want a process id, not %q", v))
			return
		}
		f.PID = uint32(pid)
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, &apiError{"internal", http.StatusInternalServerError, errors.New("streaming unsupported")})
		return
	}
	sub, err := s.UI.Live.Subscribe(f)
	if err != nil {
		writeError(w, &apiError{"unavailable", http.StatusServiceUnavailable, err})
		return
	}
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	b := []byte("retry: 3000\n: kscope live events\n\n")
	w.Write(b)
	flusher.Flush()

	tick := time.NewTicker(dropReport)
	defer tick.Stop()
	var reported uint64
	idle := time.Now()
	events := sub.Events()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-events:
			if !ok {
				w.Write([]byte("event: end\ndata: {}\n\n"))
				flusher.Flush()
				return
			}
			// Write what is waiting in one go, up to a bound.
			b = appendSSE(b[:0], ev)
		more:
			for range 255 {
				select {
				case ev, ok := <-events:
					if !ok {
						break more
					}
					b = appendSSE(b, ev)
				default:
					break more
				}
			}
			if _, err := w.Write(b); err != nil {
				return
			}
			flusher.Flush()
			idle = time.Now()
		case now := <-tick.C:
			if d := sub.Dropped(); d != reported {
				reported = d
				b = append(b[:0], "event: dropped\ndata: {\"dropped\":"...)
				b = strconv.AppendUint(b, d, 10)
				b = append(b, "}\n\n"...)
			} else if now.Sub(idle) >= keepalive {
				b = append(b[:0], ": keepalive\n\n"...)
			} else {
				continue
			}
			if _, err := w.Write(b); err != nil {
				return
			}
			flusher.Flush()
			idle = now
		}
	}
}

// appendSSE appends one SSE message; ev is one line of JSON.
func appendSSE(b, ev []byte) []byte {
	b = append(b, "data: "...)
	b = append(b, ev...)
	return append(b, '\n', '\n')
}
