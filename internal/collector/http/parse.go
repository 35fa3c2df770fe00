package http

import (
	"bytes"
	"unicode/utf8"
)

// head is what the captured start of an HTTP/1.x message says.
type head struct {
	request bool
	method  string // request
	// path is the request target without the query; it and host point
	// into the parsed bytes.
	path   []byte
	status int // response
	// headerLen is the length of the head up to and including the blank
	// line; -1 when the blank line is not in the capture.
	headerLen int
	// contentLength is the Content-Length header's value; -1 without one
	// (or when the head was cut before it).
	contentLength int64
	chunked       bool // Transfer-Encoding: chunked
	host          []byte
}

// maxPath bounds the path kept from a request target.
const maxPath = 256

// isToken reports whether c may appear in a method (RFC 9110 tchar).
func isToken(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

// parseHead parses the start of an HTTP/1.x request or response: the
// request or status line (which must be complete up to the version, or,
// for a request cut inside its target, up to the cut) and the headers that
// were captured. ok is false for anything else.
func parseHead(b []byte) (h head, ok bool) {
	h.headerLen, h.contentLength = -1, -1
	line, rest, complete := cutLine(b)
	if bytes.HasPrefix(line, []byte("HTTP/1.")) {
		// HTTP/1.x SP 3DIGIT [SP reason]
		if len(line) < 12 || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
			return h, false
		}
		code := 0
		for _, c := range line[9:12] {
			if c < '0' || c > '9' {
				return h, false
			}
			code = code*10 + int(c-'0')
		}
		if code < 100 {
			return h, false
		}
		h.status = code
	} else {
		sp := bytes.IndexByte(line, ' ')
		if sp <= 0 || sp > 32 {
			return h, false
		}
		for _, c := range line[:sp] {
			if !isToken(c) {
				return h, false
			}
		}
		target := line[sp+1:]
		if end := bytes.IndexByte(target, ' '); end >= 0 {
			if v := target[end+1:]; !bytes.HasPrefix(v, []byte("HTTP/1.")) || len(v) != 8 {
				return h, false
			}
			target = target[:end]
		} else if complete {
			return h, false // HTTP/0.9 or not HTTP
		}
		if q := bytes.IndexByte(target, '?'); q >= 0 {
			target = target[:q]
		}
		if len(target) == 0 {
			return h, false
		}
		if len(target) > maxPath {
			target = target[:maxPath]
		}
		h.request = true
		h.method = methodString(line[:sp])
		h.path = target
	}
	if !complete {
		return h, true
	}
	// Header fields, until the blank line or the end of the capture.
	for {
		line, rest, complete = cutLine(rest)
		if !complete {
			return h, true
		}
		off := len(b) - len(rest)
		if len(line) == 0 {
			h.headerLen = off
			return h, true
		}
		// The length of the name picks the one header it may be; the
		// others are passed over without looking further.
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := line[:colon]
		switch {
		case len(name) == len("content-length") && asciiEqualFold(name, "content-length"):
			if n, ok := parseLength(bytes.TrimSpace(line[colon+1:])); ok {
				h.contentLength = n
			}
		case len(name) == len("transfer-encoding") && asciiEqualFold(name, "transfer-encoding"):
			h.chunked = containsFold(line[colon+1:], "chunked")
		case len(name) == len("host") && asciiEqualFold(name, "host"):
			value := bytes.TrimSpace(line[colon+1:])
			if len(value) > maxPath {
				value = value[:maxPath]
			}
			h.host = value
		}
	}
}

// cutLine returns the line before the first CRLF (or LF), the rest after
// it, and whether a line end was found.
func cutLine(b []byte) (line, rest []byte, complete bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil, false
	}
	line = b[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, b[i+1:], true
}

// parseLength parses a Content-Length value as strconv.ParseInt(v, 10, 64)
// does, sign included, keeping only values of 0 and up.
func parseLength(v []byte) (int64, bool) {
	neg := false
	if len(v) > 0 && (v[0] == '+' || v[0] == '-') {
		neg = v[0] == '-'
		v = v[1:]
	}
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' || n > (1<<63-1-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg && n != 0 {
		return 0, false
	}
	return n, true
}

// containsFold reports whether b contains lower, a lower-case ASCII word,
// in any case, as bytes.Contains(bytes.ToLower(b), lower) does.
func containsFold(b []byte, lower string) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			// Unicode case folding (U+212A KELVIN SIGN is a 'k').
			return bytes.Contains(bytes.ToLower(b), []byte(lower))
		}
	}
	for i := 0; i+len(lower) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// chunkedEnd reports whether tail, the last bytes of a call, ends a
// chunked body: the zero-length last chunk and the blank line (without
// trailer fields).
func chunkedEnd(tail []byte) bool {
	return bytes.HasSuffix(tail, []byte("0\r\n\r\n"))
}

// Methods the metrics keep as label values; others count as "other".
var knownMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// methodString returns m as a string, without allocating for the known
// methods.
func methodString(m []byte) string {
	for _, k := range knownMethods {
		if string(m) == k {
			return k
		}
	}
	return string(m)
}

// methodLabel bounds a method to the known ones and "other".
func methodLabel(m string) string {
	for _, k := range knownMethods {
		if m == k {
			return k
		}
	}
	return "other"
}

// reuse returns b as a string: prev when it holds the same bytes (a
// connection asking for the same path again), a new string otherwise.
func reuse(prev string, b []byte) string {
	if string(b) == prev {
		return prev
	}
	return string(b)
}
