package http

import (
	"testing"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// call builds a data record of sk: n bytes in dir at ts, capturing head
// (and, as the kernel does, its last bytes as the tail).
func call(sk uint64, dir uint8, ts uint64, n uint32, head string) *chunk {
	c := &chunk{sk: sk, dir: dir, ts: ts, began: ts, len: n, kind: kindData, family: 2, lport: 80, rport: 40000}
	c.laddr[0], c.laddr[3] = 127, 1
	c.raddr[0], c.raddr[3] = 127, 2
	c.data = []byte(head)
	t := head
	if len(t) > 8 {
		t = t[len(t)-8:]
	}
	c.tail = []byte(t)
	c.hdr.PID = 42
	return c
}

func withTail(c *chunk, tail string) *chunk { c.tail = []byte(tail); return c }

type got struct {
	role, method, path string
	status             int32
	lat, in, out       uint64
}

func run(calls ...*chunk) []got {
	var out []got
	tr := newTracker(collector.NewClock(), func(e *event.HTTP) {
		out = append(out, got{e.Role, e.Method, e.Path, e.Status, e.LatencyNS, e.BytesIn, e.BytesOut})
	})
	for _, c := range calls {
		if c.kind == kindClose && c.ts == 1<<62 {
			tr.sweep(c.ts)
			continue
		}
		tr.add(c)
	}
	return out
}

func closed(sk uint64) *chunk { return &chunk{sk: sk, kind: kindClose} }
func eof(sk uint64, ts uint64) *chunk {
	return &chunk{sk: sk, kind: kindEOF, ts: ts}
}
func sweepAll() *chunk { return &chunk{kind: kindClose, ts: 1 << 62} }

const (
	req  = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	resp = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
)

func TestTracker(t *testing.T) {
	tests := []struct {
		name  string
		calls []*chunk
		want  []got
	}{
		{"server, Content-Length in two writes", []*chunk{
			call(1, dirIn, 100, 30, req),
			call(1, dirOut, 150, 39, resp), call(1, dirOut, 170, 10, ""),
		}, []got{{"server", "GET", "/a", 200, 70, 30, 49}}},
		{"client, kept alive", []*chunk{
			call(1, dirOut, 100, 30, req), call(1, dirIn, 200, 49, resp),
			call(1, dirOut, 300, 30, req), call(1, dirIn, 350, 40, resp), call(1, dirIn, 360, 9, ""),
		}, []got{{"client", "GET", "/a", 200, 100, 49, 30}, {"client", "GET", "/a", 200, 60, 49, 30}}},
		{"chunked, ended by the tail", []*chunk{
			call(1, dirIn, 100, 30, req),
			call(1, dirOut, 110, 60, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
			withTail(call(1, dirOut, 120, 20, ""), "x\r\n"),
			withTail(call(1, dirOut, 130, 5, ""), "0\r\n\r\n"),
		}, []got{{"server", "GET", "/a", 200, 30, 30, 85}}},
		{"HEAD: no body", []*chunk{
			call(1, dirIn, 100, 31, "HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n"), call(1, dirOut, 110, 39, resp),
		}, []got{{"server", "HEAD", "/a", 200, 10, 31, 39}}},
		{"POST body and 100 Continue", []*chunk{
			call(1, dirOut, 100, 60, "POST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 500\r\n\r\n"),
			call(1, dirIn, 110, 25, "HTTP/1.1 100 Continue\r\n\r\n"),
			call(1, dirOut, 120, 500, "body"),
			call(1, dirIn, 130, 49, resp),
		}, []got{{"client", "POST", "/u", 200, 30, 74, 560}}},
		{"close-delimited, ended by end of file", []*chunk{
			call(1, dirOut, 100, 30, req), call(1, dirIn, 110, 100, "HTTP/1.0 200 OK\r\n\r\n"),
			call(1, dirIn, 120, 100, ""), eof(1, 130),
		}, []got{{"client", "GET", "/a", 200, 20, 200, 30}}},
		{"close-delimited, ended by the sweep", []*chunk{
			call(1, dirIn, 100, 30, req), call(1, dirOut, 110, 100, "HTTP/1.0 200 OK\r\n\r\n"), sweepAll(),
		}, []got{{"server", "GET", "/a", 200, 10, 30, 100}}},
		{"no response before close", []*chunk{
			call(1, dirIn, 100, 30, req), closed(1),
		}, []got{{"server", "GET", "/a", 0, 0, 30, 0}}},
		{"one byte read ahead, then the rest", []*chunk{
			call(1, dirIn, 100, 30, req), call(1, dirOut, 110, 49, resp),
			call(1, dirIn, 200, 1, "G"), call(1, dirIn, 210, 29, "ET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
			call(1, dirOut, 220, 49, resp),
		}, []got{{"server", "GET", "/a", 200, 10, 30, 49}, {"server", "GET", "/b", 200, 20, 30, 49}}},
		{"a new request ends an unfinished one", []*chunk{
			call(1, dirIn, 100, 30, req), call(1, dirOut, 110, 20, "HTTP/1.1 200 OK\r\n\r\n"),
			call(1, dirIn, 200, 30, req), call(1, dirOut, 210, 49, resp),
		}, []got{{"server", "GET", "/a", 200, 10, 30, 20}, {"server", "GET", "/a", 200, 10, 30, 49}}},
		{"the middle of an exchange older than tracing", []*chunk{
			call(1, dirOut, 100, 49, resp), call(1, dirIn, 110, 30, "body"), closed(1),
		}, nil},
		{"two connections apart", []*chunk{
			call(1, dirIn, 100, 30, req), call(2, dirOut, 105, 30, req),
			call(2, dirIn, 120, 49, resp), call(1, dirOut, 130, 49, resp),
		}, []got{{"client", "GET", "/a", 200, 15, 49, 30}, {"server", "GET", "/a", 200, 30, 30, 49}}},
	}
	for _, tt := range tests {
		got := run(tt.calls...)
		if len(got) != len(tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: exchange %d: got %+v, want %+v", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}

func TestTrackerBounded(t *testing.T) {
	n := 0
	tr := newTracker(collector.NewClock(), func(*event.HTTP) { n++ })
	tr.maxConns = 10
	for sk := uint64(1); sk <= 25; sk++ {
		tr.add(call(sk, dirIn, sk, 30, req))
	}
	if len(tr.conns) > 10 || n != 15 {
		t.Errorf("%d connections kept, %d exchanges reported on eviction", len(tr.conns), n)
	}
}

// A socket the kernel reuses for another connection, of another process,
// reports its new ends, command and path: what the tracker keeps per
// connection to save work follows the records.
func TestTrackerFollowsChanges(t *testing.T) {
	var evs []event.HTTP
	tr := newTracker(collector.NewClock(), func(e *event.HTTP) { evs = append(evs, *e) })
	first := call(1, dirIn, 100, 30, req)
	copy(first.hdr.Comm[:], "nginx")
	tr.add(first)
	tr.add(call(1, dirOut, 110, 49, resp))
	again := call(1, dirIn, 200, 31, "GET /b HTTP/1.1\r\nHost: g\r\n\r\n")
	copy(again.hdr.Comm[:], "nginx")
	tr.add(again)
	tr.add(call(1, dirOut, 210, 49, resp))
	other := call(1, dirIn, 300, 30, req)
	other.raddr[3], other.rport, other.lport = 9, 41000, 8080
	copy(other.hdr.Comm[:], "caddy")
	tr.add(other)
	tr.add(call(1, dirOut, 310, 49, resp))
	want := []struct{ comm, path, host, laddr, raddr string }{
		{"nginx", "/a", "h", "127.0.0.1:80", "127.0.0.2:40000"},
		{"nginx", "/b", "g", "127.0.0.1:80", "127.0.0.2:40000"},
		{"caddy", "/a", "h", "127.0.0.1:8080", "127.0.0.9:41000"},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d exchanges, want %d", len(evs), len(want))
	}
	for i, w := range want {
		e := evs[i]
		if e.Comm != w.comm || e.Path != w.path || e.Host != w.host || e.LAddr != w.laddr || e.RAddr != w.raddr || e.Type != Name || e.PID != 42 {
			t.Errorf("exchange %d: %+v, want %+v", i, e, w)
		}
	}
}
