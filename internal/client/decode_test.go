package client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       int
		data       string
		err        string
	}{
		{"success", `{"status":"success","data":{"a":1},"warnings":["w"]}`, 200, `{"a":1}`, ""},
		{"error", `{"status":"error","errorType":"bad_data","error":"parse error"}`, 400, "", "bad_data: parse error"},
		{"timeout", `{"status":"error","errorType":"timeout","error":"query timed out"}`, 503, "", "timeout: query timed out"},
		{"html", `<html>404</html>`, 404, "", `http://a/x answered 404 Not Found, not the kscope API: "<html>404</html>"`},
		{"other json", `{"hello":1}`, 200, "", `not the kscope API`},
		{"empty", ``, 502, "", `not the kscope API`},
	} {
		resp := &http.Response{StatusCode: tc.code, Status: fmt.Sprintf("%d %s", tc.code, http.StatusText(tc.code))}
		r, err := decode("http://a/x", resp, []byte(tc.body))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			}
			var e *Error
			if errors.As(err, &e) && e.StatusCode != tc.code {
				t.Errorf("%s: status %d, want %d", tc.name, e.StatusCode, tc.code)
			}
			continue
		}
		if err != nil || string(r.Data) != tc.data || len(r.Warnings) != 1 {
			t.Errorf("%s: %+v %v", tc.name, r, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pid":"1"},"value":[1,"2"]}]}}`))
	f.Add([]byte(`{"status":"error","errorType":"bad_data","error":"x"}`))
	f.Add([]byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"]]}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decode("http://a/x", &http.Response{StatusCode: 200, Status: "200 OK"}, b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) && !errors.Is(err, ErrNotAgent) {
				t.Fatalf("%q: %v is neither the API's error nor ErrNotAgent", b, err)
			}
			return
		}
		res := &Result{Data: r.Data}
		res.Value() // any answer decodes or fails, without panicking
	})
}

func newTestStream(body string) *Stream {
	s := &Stream{body: io.NopCloser(strings.NewReader(body))}
	s.sc = bufio.NewScanner(s.body)
	s.sc.Buffer(nil, MaxStreamEvent+64)
	return s
}

func TestStreamNext(t *testing.T) {
	s := newTestStream("retry: 3000\n: kscope live events\n\ndata: {\"a\":1}\n\n: keepalive\n\nevent: dropped\ndata: {\"dropped\":3}\n\ndata: {\"a\":2}\n\nevent: end\ndata: {}\n\n")
	for _, want := range []string{`{"a":1}`, `{"a":2}`} {
		if ev, err := s.Next(); err != nil || string(ev) != want {
			t.Fatalf("Next: %s %v, want %s", ev, err, want)
		}
	}
	if s.Dropped() != 3 {
		t.Errorf("dropped %d, want 3", s.Dropped())
	}
	if _, err := s.Next(); !errors.Is(err, ErrStreamEnded) {
		t.Errorf("end: %v", err)
	}
	if _, err := newTestStream("data: {\"a\":1}\n").Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut short: %v", err)
	}
	if _, err := newTestStream("event: dropped\ndata: many\n\n").Next(); err == nil || !strings.Contains(err.Error(), `decoding a dropped report "many"`) {
		t.Errorf("bad drop report: %v", err)
	}
}

// FuzzStreamNext reads any stream without a panic or an empty event, and
// reads back the events and the drop count of a stream written as the
// agent writes it.
func FuzzStreamNext(f *testing.F) {
	f.Add("data: {\"a\":1}\n\nevent: dropped\ndata: {\"dropped\":3}\n\nevent: end\ndata: {}\n\n", uint64(3))
	f.Fuzz(func(t *testing.T, body string, dropped uint64) {
		s := newTestStream(body)
		for range 1000 {
			ev, err := s.Next()
			if err != nil {
				break
			}
			if len(ev) == 0 {
				t.Fatalf("%q: an empty event", body)
			}
		}
		// The agent's stream: one line of JSON per event.
		events := strings.FieldsFunc(body, func(r rune) bool { return r == '\n' || r == '\r' })
		var b strings.Builder
		b.WriteString("retry: 3000\n: kscope live events\n\n")
		for i, ev := range events {
			fmt.Fprintf(&b, "data: %s\n\n", ev)
			if i == 0 {
				fmt.Fprintf(&b, ": keepalive\n\nevent: dropped\ndata: {\"dropped\":%d}\n\n", dropped)
			}
		}
		b.WriteString("event: end\ndata: {}\n\n")
		s = newTestStream(b.String())
		for i, want := range events {
			ev, err := s.Next()
			if err != nil || string(ev) != want {
				t.Fatalf("event %d: %q %v, want %q", i, ev, err, want)
			}
		}
		if _, err := s.Next(); !errors.Is(err, ErrStreamEnded) {
			t.Fatalf("at the end: %v", err)
		}
		if len(events) > 0 && s.Dropped() != dropped {
			t.Fatalf("dropped %d, want %d", s.Dropped(), dropped)
		}
	})
}
