package http

import (
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// Record kinds, directions and sources of struct http_chunk (bpf/http.bpf.c).
const (
	kindData  = 0
	kindEOF   = 1
	kindClose = 2
	kindExec  = 3

	dirIn  = 0
	dirOut = 1

	srcSyscall = 0
	srcOpenSSL = 1
	srcGoTLS   = 2
)

// headSize is the fixed part of a record, before the captured data.
const headSize = int(unsafe.Offsetof(httpHttpChunk{}.Data))

// chunk is one decoded record.
type chunk struct {
	hdr     collector.RawHeader
	sk      uint64
	len     uint32
	fd      int32
	dir     uint8
	kind    uint8
	src     uint8
	family  uint16
	lport   uint16
	rport   uint16
	laddr   [16]byte
	raddr   [16]byte
	tail    []byte
	data    []byte
	ts      uint64 // when the call returned
	began   uint64 // when a write began, when a read returned: the order of calls
	tailBuf [8]byte
	own     []byte // data's storage once the record is copied
}

// decodeChunk parses one ring buffer record into c, which keeps pointing
// into b. It rejects short records and captures longer than the record.
func decodeChunk(b []byte, c *chunk) bool {
	if len(b) < headSize {
		return false
	}
	var raw httpHttpChunk
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&raw)), headSize), b)
	if int(raw.Cap) > len(b)-headSize || raw.TailLen > 8 || raw.Kind > kindExec || raw.Dir > dirOut || raw.Src > srcGoTLS {
		return false
	}
	c.hdr = collector.HeaderOf(&raw.Hdr)
	c.ts, c.began = raw.Hdr.TsNs, raw.Began
	c.sk, c.len, c.fd = raw.Sk, raw.Len, raw.Fd
	c.dir, c.kind, c.src = raw.Dir, raw.Kind, raw.Src
	c.family, c.lport, c.rport = raw.Family, raw.Lport, raw.Rport
	c.laddr, c.raddr = raw.Laddr, raw.Raddr
	c.tailBuf = raw.Tail
	c.tail = c.tailBuf[:raw.TailLen]
	c.data = b[headSize : headSize+int(raw.Cap)]
	if raw.TailLen == 0 && int(raw.Cap) == int(raw.Len) {
		// A call of a few bytes comes whole: it is its own tail.
		c.tail = c.data
	}
	return true
}

// endpoint formats an address and port of the record's family.
func endpoint(family uint16, addr [16]byte, port uint16) string {
	var a netip.Addr
	switch family {
	case 2:
		a = netip.AddrFrom4([4]byte(addr[:4]))
	case 10:
		a = netip.AddrFrom16(addr)
	default:
		return ""
	}
	return netip.AddrPortFrom(a, port).String()
}

// ends are a connection's addresses as a record carries them.
type ends struct {
	family       uint16
	lport, rport uint16
	laddr, raddr [16]byte
}

const (
	roleUnknown = iota
	roleServer
	roleClient
)

// exchange is a request and, as it comes, its response.
type exchange struct {
	hdr          collector.RawHeader // of the request's first call
	method, path string
	host         string
	start        uint64 // when the request's first read returned or first write began
	end          uint64 // when the response's last call so far returned
	reqBytes     uint64
	respBytes    uint64
	status       int
	responded    bool  // a final (non-1xx) status line came
	want         int64 // total response bytes when known from the head, else -1
	chunked      bool
	head         bool // a HEAD request: no body follows the response head
}

// conn is one connection as one source sees it.
type conn struct {
	sk           uint64
	src          uint8
	role         int
	laddr, raddr string
	// The addresses laddr and raddr were formatted from: formatted again
	// only when they change.
	ends ends
	// The last path, host and command name seen, reused while the bytes
	// stay the same.
	path, host string
	commRaw    [16]byte
	comm       string
	last       uint64 // last activity
	ex         *exchange
	carry      carry
	lastDir    uint8 // of the last data call; none yet: neither
}

// carryMax bounds the calls kept back to be parsed with the next one: the
// kernel side sends calls of fewer bytes whole.
const carryMax = 8

// carry is a call of a few bytes at a turn of the connection, kept until
// the next call in its direction.
type carry struct {
	dir       uint8
	n         uint32
	ts, began uint64
	hdr       collector.RawHeader
	b         [carryMax]byte
}

// joinCarry prepares the carried bytes followed by c's capture in t.joined,
// when c continues them (its capture starts at its first byte).
func (t *tracker) joinCarry(cn *conn, c *chunk) bool {
	if len(c.data) == 0 {
		return false
	}
	t.joined = append(append(t.joined[:0], cn.carry.b[:cn.carry.n]...), c.data...)
	return true
}

// flushCarry counts carried bytes that started nothing as ordinary bytes.
func (t *tracker) flushCarry(cn *conn) {
	k := cn.carry
	cn.carry.n = 0
	t.add(&chunk{hdr: k.hdr, ts: k.ts, began: k.began, len: k.n, dir: k.dir, kind: kindData, src: cn.src, sk: cn.sk})
}

// tracker assembles records into exchanges, per connection.
type tracker struct {
	clock collector.Clock
	conns map[uint64]*conn
	// maxConns bounds conns: past it the least recently active goes.
	maxConns int
	// idleNS finalises a response that stopped moving, for responses
	// whose end the head does not say (no Content-Length, not chunked).
	idleNS uint64
	emit   func(*event.HTTP)
	ev     event.HTTP
	free   []*exchange
	joined []byte
}

func newTracker(clock collector.Clock, emit func(*event.HTTP)) *tracker {
	return &tracker{clock: clock, conns: map[uint64]*conn{}, maxConns: 16384, idleNS: 1e9, emit: emit}
}

// add processes one data, end-of-file or close record.
func (t *tracker) add(c *chunk) {
	switch c.kind {
	case kindClose:
		if cn := t.conns[c.sk]; cn != nil {
			t.finish(cn)
			delete(t.conns, c.sk)
		}
		return
	case kindEOF:
		if cn := t.conns[c.sk]; cn != nil && cn.src == c.src {
			cn.last = c.ts
			t.finish(cn)
		}
		return
	case kindData:
	default:
		return
	}
	cn := t.conns[c.sk]
	var h head
	var isHead bool
	if len(c.data) > 0 {
		h, isHead = parseHead(c.data)
	}
	if cn == nil || cn.src != c.src {
		if !isHead {
			return
		}
		if cn == nil && len(t.conns) >= t.maxConns {
			t.evict()
		}
		cn = &conn{src: c.src, sk: c.sk, lastDir: 0xff}
		t.conns[c.sk] = cn
	}
	cn.last = c.ts
	// A few bytes alone at a turn wait for the next call in their
	// direction, to be parsed with it.
	if cn.carry.n > 0 && (cn.carry.dir != c.dir || !t.joinCarry(cn, c)) {
		t.flushCarry(cn)
	}
	turn := c.dir != cn.lastDir
	cn.lastDir = c.dir
	if turn && !isHead && c.len < carryMax && len(c.data) == int(c.len) && c.len > 0 && cn.carry.n == 0 {
		cn.carry = carry{dir: c.dir, ts: c.ts, began: c.began, hdr: c.hdr, n: c.len}
		copy(cn.carry.b[:], c.data)
		return
	}
	if cn.carry.n > 0 {
		// Joined: parse the whole, count the bytes once, date the
		// message from its first call.
		h, isHead = parseHead(t.joined)
		c.data = t.joined
		c.len += cn.carry.n
		c.began, c.hdr = cn.carry.began, cn.carry.hdr
		cn.carry.n = 0
	}
	if isHead && (h.request || cn.role == roleUnknown) {
		// Writing a request or reading a response makes a client. A
		// request decides anew: the kernel reuses socket addresses.
		if h.request == (c.dir == dirOut) {
			cn.role = roleClient
		} else {
			cn.role = roleServer
		}
		if e := (ends{c.family, c.lport, c.rport, c.laddr, c.raddr}); e != cn.ends {
			cn.ends = e
			cn.laddr = endpoint(c.family, c.laddr, c.lport)
			cn.raddr = endpoint(c.family, c.raddr, c.rport)
		}
	}
	reqDir := uint8(dirIn)
	if cn.role == roleClient {
		reqDir = dirOut
	}
	switch {
	case isHead && h.request && c.dir == reqDir:
		t.finish(cn)
		ex := t.newExchange()
		ex.hdr = c.hdr
		cn.path, cn.host = reuse(cn.path, h.path), reuse(cn.host, h.host)
		ex.method, ex.path, ex.host = h.method, cn.path, cn.host
		ex.head = h.method == "HEAD"
		ex.start, ex.end = c.began, c.ts
		ex.reqBytes = uint64(c.len)
		cn.ex = ex
	case cn.ex == nil:
		// The rest of an exchange that began before tracing did.
	case c.dir == reqDir:
		if cn.ex.responded {
			// More request bytes after a final response: a request
			// whose head was not seen. Close the exchange.
			t.finish(cn)
			return
		}
		cn.ex.reqBytes += uint64(c.len)
	default:
		ex := cn.ex
		ex.respBytes += uint64(c.len)
		ex.end = c.ts
		if isHead && !h.request && !ex.responded {
			if h.status >= 100 && h.status < 200 && h.status != 101 {
				// An interim response (100 Continue): its bytes count.
				ex.want = -1
				return
			}
			ex.status = h.status
			ex.responded = true
			ex.chunked = h.chunked
			ex.want = -1
			switch {
			case h.headerLen < 0:
			case ex.head || h.status == 204 || h.status == 304 || h.status == 101:
				ex.want = int64(ex.respBytes - uint64(c.len) + uint64(h.headerLen))
			case h.contentLength >= 0 && !h.chunked:
				ex.want = int64(ex.respBytes-uint64(c.len)+uint64(h.headerLen)) + h.contentLength
			}
		}
		if !ex.responded {
			return
		}
		if (ex.want >= 0 && int64(ex.respBytes) >= ex.want) || (ex.chunked && chunkedEnd(c.tail)) {
			t.finish(cn)
		}
	}
}

func (t *tracker) newExchange() *exchange {
	if n := len(t.free); n > 0 {
		ex := t.free[n-1]
		t.free = t.free[:n-1]
		*ex = exchange{want: -1}
		return ex
	}
	return &exchange{want: -1}
}

// finish reports the connection's exchange, if any, and forgets it.
func (t *tracker) finish(cn *conn) {
	ex := cn.ex
	if ex == nil {
		return
	}
	cn.ex = nil
	e := &t.ev
	// The command name is converted once per connection and name.
	hdr := ex.hdr
	if hdr.Comm != cn.commRaw || cn.comm == "" {
		cn.commRaw, cn.comm = hdr.Comm, collector.CString(hdr.Comm[:])
	}
	hdr.Comm = [16]byte{}
	hdr.Fill(&e.Header, Name, t.clock)
	e.Comm = cn.comm
	e.Method, e.Path, e.Host = ex.method, ex.path, ex.host
	e.Status = 0
	e.LatencyNS = 0
	if ex.responded {
		e.Status = int32(ex.status)
		e.LatencyNS = ex.end - ex.start
	}
	e.TLS = cn.src != srcSyscall
	e.LAddr, e.RAddr = cn.laddr, cn.raddr
	if cn.role == roleClient {
		e.Role = "client"
		e.BytesOut, e.BytesIn = ex.reqBytes, ex.respBytes
	} else {
		e.Role = "server"
		e.BytesIn, e.BytesOut = ex.reqBytes, ex.respBytes
	}
	t.free = append(t.free, ex)
	t.emit(e)
}

// sweep finalises responses that have not moved for idleNS, as of the
// monotonic time now.
func (t *tracker) sweep(now uint64) {
	for _, cn := range t.conns {
		if cn.ex != nil && cn.ex.responded && now > cn.last && now-cn.last >= t.idleNS {
			t.finish(cn)
		}
	}
}

// evict drops the least recently active connection, reporting its exchange.
func (t *tracker) evict() {
	var oldest uint64
	var key uint64
	first := true
	for k, cn := range t.conns {
		if first || cn.last < oldest {
			oldest, key, first = cn.last, k, false
		}
	}
	if cn := t.conns[key]; cn != nil {
		t.finish(cn)
		delete(t.conns, key)
	}
}

// statusLabels are the label values of the valid status codes, 100 to 599.
var statusLabels = func() (l [500]string) {
	for i := range l {
		l[i] = strconv.Itoa(100 + i)
	}
	return l
}()

// statusLabel bounds a status code to the valid range and "other".
func statusLabel(s int32) string {
	if s >= 100 && s <= 599 {
		return statusLabels[s-100]
	}
	if s == 0 {
		return "none"
	}
	return "other"
}
