package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
)

// EventsQuery selects stored events; empty fields select everything.
type EventsQuery struct {
	// Type is an event type: exec, exit, connect…
	Type string
	// Since and Until bound the window: a duration ago (10m) or a time
	// (RFC 3339, Unix seconds). The agent's defaults: the last hour, now.
	Since, Until string
	// Limit is the number of events, the newest; 0: the agent's default.
	Limit int
	// PID selects the processes that had this pid; with Start (a start_ns)
	// the one process that started then.
	PID   uint32
	Start uint64
	// Match are conditions on top-level fields: field=value, field!=value,
	// field=~regex, field!~regex; all must hold.
	Match []string
	// Text is a case-insensitive substring of the event's JSON.
	Text string
}

func (q EventsQuery) params() url.Values {
	p := url.Values{}
	for k, v := range map[string]string{"type": q.Type, "since": q.Since, "until": q.Until, "q": q.Text} {
		if v != "" {
			p.Set(k, v)
		}
	}
	if q.Limit != 0 {
		p.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.PID != 0 {
		p.Set("pid", strconv.FormatUint(uint64(q.PID), 10))
	}
	if q.Start != 0 {
		p.Set("start", strconv.FormatUint(q.Start, 10))
	}
	for _, m := range q.Match {
		p.Add("match", m)
	}
	return p
}

// Events are stored events, oldest first, each one JSON object as the
// agent stored it.
type Events struct {
	Events []json.RawMessage `json:"events"`
	// Truncated says more events matched than the limit.
	Truncated bool `json:"truncated"`
}

// Events lists the stored events q selects: the newest q.Limit, oldest
// first.
func (c *Client) Events(ctx context.Context, q EventsQuery) (*Events, error) {
	r, err := c.Do(ctx, "/api/v1/events", q.params())
	if err != nil {
		return nil, err
	}
	var out Events
	if err := json.Unmarshal(r.Data, &out); err != nil {
		return nil, fmt.Errorf("decoding events: %w", err)
	}
	return &out, nil
}

// StreamFilter selects the live events; empty fields match everything.
type StreamFilter struct {
	Type string // event type
	PID  uint32 // 0: any
	Comm string // exact
	Text string // case-insensitive substring of the event's JSON
}

// Stream is a subscription to the events the agent ingests from now on.
type Stream struct {
	body    io.ReadCloser
	sc      *bufio.Scanner
	dropped atomic.Uint64
}

// MaxStreamEvent bounds one event of the live stream.
const MaxStreamEvent = 1 << 20

// Stream subscribes to the live events f selects. The subscription lasts
// until ctx ends or Close; Options.Timeout does not apply to it.
func (c *Client) Stream(ctx context.Context, f StreamFilter) (*Stream, error) {
	p := url.Values{}
	for k, v := range map[string]string{"type": f.Type, "comm": f.Comm, "q": f.Text} {
		if v != "" {
			p.Set(k, v)
		}
	}
	if f.PID != 0 {
		p.Set("pid", strconv.FormatUint(uint64(f.PID), 10))
	}
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/events/stream", p)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix([]byte(resp.Header.Get("Content-Type")), []byte("text/event-stream")) {
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
		if err != nil {
			return nil, fmt.Errorf("reading the answer of %s: %w", c.url+"/api/v1/events/stream", err)
		}
		if err := c.refused(resp, body); err != nil {
			return nil, err
		}
		if _, err := decode(c.url+"/api/v1/events/stream", resp, body); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s answered %s, %w", c.url+"/api/v1/events/stream", resp.Status, ErrNotAgent)
	}
	s := &Stream{body: resp.Body, sc: bufio.NewScanner(resp.Body)}
	s.sc.Buffer(make([]byte, 0, 64<<10), MaxStreamEvent+64)
	return s, nil
}

// ErrStreamEnded is returned by Next when the agent ended the stream: it
// is stopping.
var ErrStreamEnded = errors.New("the agent ended the live stream")

// Next returns the next event, one JSON object. It returns ErrStreamEnded
// when the agent stops, and the context's error when it ends.
func (s *Stream) Next() (json.RawMessage, error) {
	var typ string
	var data []byte
	for s.sc.Scan() {
		line := s.sc.Bytes()
		switch {
		case len(line) == 0: // the end of one message
			if data == nil {
				typ = ""
				continue
			}
			switch typ {
			case "", "message":
				return data, nil
			case "dropped":
				var d struct {
					Dropped uint64 `json:"dropped"`
				}
				if err := json.Unmarshal(data, &d); err != nil {
					return nil, fmt.Errorf("decoding a dropped report %q: %w", data, err)
				}
				s.dropped.Store(d.Dropped)
			case "end":
				return nil, ErrStreamEnded
			}
			typ, data = "", nil
		case line[0] == ':': // a comment: keepalive
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				typ = string(value)
			case "data":
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, value...)
			}
		}
	}
	if err := s.sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the live stream: %w", err)
	}
	return nil, io.ErrUnexpectedEOF
}

// Dropped is the number of events the agent dropped for this subscriber
// because it read too slowly, as last reported.
func (s *Stream) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription.
func (s *Stream) Close() error { return s.body.Close() }
