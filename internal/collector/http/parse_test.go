package http

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// strHead is a head with its byte fields as strings, to compare.
type strHead struct {
	request            bool
	method, path, host string
	status, headerLen  int
	contentLength      int64
	chunked            bool
}

func (h head) view() strHead {
	return strHead{request: h.request, method: h.method, path: string(h.path), host: string(h.host), status: h.status,
		headerLen: h.headerLen, contentLength: h.contentLength, chunked: h.chunked}
}

func TestParseHead(t *testing.T) {
	long := "/" + strings.Repeat("a", 300)
	tests := []struct {
		in   string
		ok   bool
		want strHead
	}{
		{"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", true,
			strHead{request: true, method: "GET", path: "/", host: "example.com", headerLen: 37, contentLength: -1}},
		{"POST /a/b?x=1&y=2 HTTP/1.0\r\nContent-Length: 12\r\nhost:h\r\n\r\nbody", true,
			strHead{request: true, method: "POST", path: "/a/b", host: "h", headerLen: 58, contentLength: 12}},
		// A head cut before its blank line: what came is kept.
		{"PUT /x HTTP/1.1\r\nContent-Length: 5\r\nUser-Ag", true,
			strHead{request: true, method: "PUT", path: "/x", headerLen: -1, contentLength: 5}},
		// A request line cut inside its target.
		{"GET " + long, true, strHead{request: true, method: "GET", path: long[:maxPath], headerLen: -1, contentLength: -1}},
		{"GET /x HTTP/1.1\n\n", true, strHead{request: true, method: "GET", path: "/x", headerLen: 17, contentLength: -1}},
		{"BREW /pot HTTP/1.1\r\n\r\n", true, strHead{request: true, method: "BREW", path: "/pot", headerLen: 22, contentLength: -1}},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello", true,
			strHead{status: 200, chunked: true, headerLen: 47, contentLength: -1}},
		{"HTTP/1.0 404\r\nContent-Length: 0\r\n\r\n", true, strHead{status: 404, headerLen: 35, contentLength: 0}},
		{"HTTP/1.1 100 Continue\r\n\r\n", true, strHead{status: 100, headerLen: 25, contentLength: -1}},
		{"HTTP/1.1 204 No Content\r\nContent-Length: x\r\n", true, strHead{status: 204, headerLen: -1, contentLength: -1}},
		{"HTTP/1.1 099 Low\r\n", false, strHead{}},
		{"HTTP/1.1 2x0 OK\r\n", false, strHead{}},
		{"HTTP/1.1 200OK\r\n", false, strHead{}},
		{"HTTP/2 200\r\n", false, strHead{}},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false, strHead{}},
		{"GET /\r\n", false, strHead{}}, // HTTP/0.9
		{"GET / HTTP/1.1 extra\r\n", false, strHead{}},
		{"GET  HTTP/1.1\r\n", false, strHead{}},
		{"G(T / HTTP/1.1\r\n", false, strHead{}},
		{" / HTTP/1.1\r\n", false, strHead{}},
		{"\x16\x03\x01\x02\x00\x01\x00\x01", false, strHead{}},
		{"", false, strHead{}},
	}
	for _, tt := range tests {
		got, ok := parseHead([]byte(tt.in))
		if ok != tt.ok || (ok && got.view() != tt.want) {
			t.Errorf("parseHead(%.40q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestChunkedEnd(t *testing.T) {
	for in, want := range map[string]bool{"0\r\n\r\n": true, "abc\r\n0\r\n\r\n": true, "\r\n0\r\n": false, "10\r\n\r\n": true, "": false} {
		if got := chunkedEnd([]byte(in)); got != want {
			t.Errorf("chunkedEnd(%q) = %v", in, got)
		}
	}
}

func TestLabels(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "PATCH": "PATCH", "BREW": "other", "get": "other", "": "other"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q", in, got)
		}
	}
	for in, want := range map[int32]string{0: "none", 99: "other", 100: "100", 599: "599", 600: "other", -1: "other"} {
		if got := statusLabel(in); got != want {
			t.Errorf("statusLabel(%d) = %q", in, got)
		}
	}
}

func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST " + strings.Repeat("/x", 200),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := parseHead(b)
		if !ok {
			return
		}
		if h.headerLen > len(b) || h.headerLen < -1 || h.contentLength < -1 {
			t.Fatalf("head %+v of %d bytes", h, len(b))
		}
		if h.request {
			if h.method == "" || len(h.path) == 0 || len(h.path) > maxPath || bytes.IndexByte(h.path, '?') >= 0 || !bytes.HasPrefix(b, []byte(h.method+" ")) {
				t.Fatalf("request %+v from %q", h, b)
			}
		} else if h.status < 100 || h.status > 999 {
			t.Fatalf("status %d from %q", h.status, b)
		}
	})
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add(make([]byte, headSize+10))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c chunk
		if !decodeChunk(b, &c) {
			return
		}
		if len(c.data) > len(b)-headSize || len(c.tail) > 8 {
			t.Fatalf("chunk with %d data and %d tail bytes from %d", len(c.data), len(c.tail), len(b))
		}
		// Whatever the record says, the tracker takes it.
		tr := newTracker(collector.NewClock(), func(*event.HTTP) {})
		tr.add(&c)
		tr.sweep(^uint64(0))
	})
}

func TestMethodString(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "BREW", "get", "GETS", "GE", ""} {
		if got := methodString([]byte(m)); got != m {
			t.Errorf("methodString(%q) = %q", m, got)
		}
	}
	// The known ones are the label values themselves: no allocation.
	b := []byte("OPTIONS")
	if n := testing.AllocsPerRun(100, func() { methodString(b) }); n != 0 {
		t.Errorf("methodString(%q) allocates %v times", b, n)
	}
}

func TestReuse(t *testing.T) {
	prev := "/index.html"
	tests := []struct {
		prev, in string
		same     bool
	}{
		{prev, "/index.html", true},
		{prev, "/index.htm", false},
		{prev, "/index.html2", false},
		{"", "", true},
		{"", "/", false},
		{prev, "", false},
	}
	for _, tt := range tests {
		got := reuse(tt.prev, []byte(tt.in))
		if got != tt.in {
			t.Errorf("reuse(%q, %q) = %q", tt.prev, tt.in, got)
		}
		if same := len(got) > 0 && unsafe.StringData(got) == unsafe.StringData(tt.prev); same != (tt.same && tt.in != "") {
			t.Errorf("reuse(%q, %q): previous string reused %v", tt.prev, tt.in, same)
		}
	}
}

func FuzzMethodString(f *testing.F) {
	for _, s := range []string{"GET", "PATCH", "BREW", ""} {
		f.Add([]byte(s), "GET")
	}
	f.Fuzz(func(t *testing.T, b []byte, prev string) {
		if got := methodString(b); got != string(b) {
			t.Fatalf("methodString(%q) = %q", b, got)
		}
		if l := methodLabel(methodString(b)); l != "other" && l != string(b) {
			t.Fatalf("methodLabel(%q) = %q", b, l)
		}
		if got := reuse(prev, b); got != string(b) {
			t.Fatalf("reuse(%q, %q) = %q", prev, b, got)
		}
	})
}

func TestHeaderValues(t *testing.T) {
	lengths := []struct {
		in string
		n  int64
		ok bool
	}{
		{"0", 0, true}, {"13", 13, true}, {"+7", 7, true}, {"-0", 0, true}, {"007", 7, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"9223372036854775808", 0, false},
		{"-1", 0, false}, {"", 0, false}, {"+", 0, false}, {"1 2", 0, false}, {"0x10", 0, false}, {"1_000", 0, false},
	}
	for _, tt := range lengths {
		if n, ok := parseLength([]byte(tt.in)); n != tt.n || ok != tt.ok {
			t.Errorf("parseLength(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.ok)
		}
	}
	folds := map[string]bool{
		" chunked": true, "gzip, Chunked": true, "CHUNKED": true, "chunke": false, "": false,
		"chun\u212Aed": true, "identity": false, "\xffchunked": true,
	}
	for in, want := range folds {
		if got := containsFold([]byte(in), "chunked"); got != want {
			t.Errorf("containsFold(%q) = %v", in, got)
		}
	}
}

// FuzzHeaderValues checks the header value parsers against the standard
// library functions they stand in for.
func FuzzHeaderValues(f *testing.F) {
	for _, s := range []string{"13", "-0", "+5", "99999999999999999999", "gzip, chunked", "chun\u212Aed", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, err := strconv.ParseInt(string(b), 10, 64)
		wantOK := err == nil && want >= 0
		if !wantOK {
			want = 0
		}
		if n, ok := parseLength(b); n != want || ok != wantOK {
			t.Fatalf("parseLength(%q) = %d, %v; strconv says %d, %v", b, n, ok, want, wantOK)
		}
		if got, want := containsFold(b, "chunked"), bytes.Contains(bytes.ToLower(b), []byte("chunked")); got != want {
			t.Fatalf("containsFold(%q) = %v, want %v", b, got, want)
		}
	})
}
