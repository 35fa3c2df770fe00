package dns

import (
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	mdns "github.com/miekg/dns"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

const recordSize = int(unsafe.Sizeof(dnsDnsEvent{}))

// maxPending bounds the queries waiting for an answer; a query beyond it
// is counted (Stats.Lost) and not reported.
const maxPending = 4096

// Message is one DNS message as a record carries it, decoded.
type Message struct {
	TS      uint64 // CLOCK_MONOTONIC ns
	Cookie  uint64
	Owner   dnsOwner
	Egress  bool
	Client  netip.AddrPort
	Server  netip.AddrPort
	Msg     *mdns.Msg
	OwnerOK bool
	TCP     bool
}

// Decode turns a ring-buffer record into a Message. It fails for a short
// record, a bad family, or data miekg/dns cannot parse.
func Decode(b []byte, raw *dnsDnsEvent) (Message, bool) {
	if len(b) < recordSize {
		return Message{}, false
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(raw)), recordSize), b)
	var src, dst netip.Addr
	switch raw.Family {
	case 4:
		src, dst = netip.AddrFrom4([4]byte(raw.Saddr[:4])), netip.AddrFrom4([4]byte(raw.Daddr[:4]))
	case 6:
		src, dst = netip.AddrFrom16(raw.Saddr), netip.AddrFrom16(raw.Daddr)
	default:
		return Message{}, false
	}
	n := int(raw.Len)
	if n > len(raw.Data) {
		return Message{}, false
	}
	data := raw.Data[:n]
	tcp := false
	switch raw.Proto {
	case 17:
	case 6:
		// A segment that starts with a whole length-prefixed message; a
		// message split across segments is not parsed.
		tcp = true
		if n < 2 || int(raw.MsgLen) != n {
			return Message{}, false
		}
		l := int(data[0])<<8 | int(data[1])
		if l > n-2 {
			return Message{}, false
		}
		data = data[2 : 2+l]
	default:
		return Message{}, false
	}
	msg := new(mdns.Msg)
	if err := msg.Unpack(data); err != nil || len(msg.Question) != 1 {
		return Message{}, false
	}
	m := Message{TS: raw.TsNs, Cookie: raw.Cookie, Owner: raw.Owner, Egress: raw.Egress == 1, Msg: msg, OwnerOK: raw.Owner.Pid != 0, TCP: tcp}
	if m.Egress {
		m.Client, m.Server = netip.AddrPortFrom(src, raw.Sport), netip.AddrPortFrom(dst, raw.Dport)
	} else {
		m.Client, m.Server = netip.AddrPortFrom(dst, raw.Dport), netip.AddrPortFrom(src, raw.Sport)
	}
	return m, true
}

// key pairs an answer with its query: the socket, the message id and the
// question (a spoofed answer with another question does not match).
type key struct {
	cookie uint64
	id     uint16
	qtype  uint16
	qname  string
}

type query struct {
	tcp    bool
	ts     uint64
	owner  dnsOwner
	client netip.AddrPort
	server netip.AddrPort
}

// tracker pairs queries with answers and reports each pair, or a query
// alone after the timeout, as one event.
type tracker struct {
	clock   collector.Clock
	timeout uint64 // ns
	pending map[key]query
	ev      *event.Dynamic
	// overflow counts queries not tracked because maxPending were.
	overflow uint64
	// unmatched counts answers to no query seen (sent before the start,
	// or after their query timed out).
	unmatched uint64
}

func newTracker(clock collector.Clock, timeoutNS uint64) *tracker {
	return &tracker{clock: clock, timeout: timeoutNS, pending: map[key]query{}, ev: event.NewDynamic(Kind)}
}

func keyOf(m *Message) key {
	q := m.Msg.Question[0]
	return key{cookie: m.Cookie, id: m.Msg.Id, qtype: q.Qtype, qname: strings.ToLower(q.Name)}
}

// add takes one message; it returns the event to emit for an answer that
// completes a query, or nil.
func (t *tracker) add(m *Message) *event.Dynamic {
	k := keyOf(m)
	if m.Egress {
		if m.Msg.Response {
			return nil
		}
		if _, ok := t.pending[k]; !ok && len(t.pending) >= maxPending {
			t.overflow++
			return nil
		}
		t.pending[k] = query{tcp: m.TCP, ts: m.TS, owner: m.Owner, client: m.Client, server: m.Server}
		return nil
	}
	if !m.Msg.Response {
		return nil
	}
	q, ok := t.pending[k]
	if !ok {
		t.unmatched++
		return nil
	}
	delete(t.pending, k)
	if !m.OwnerOK {
		// The answer's socket was noted at send time; keep the query's owner.
		m.Owner = q.owner
	}
	lat := uint64(0)
	if m.TS > q.ts {
		lat = m.TS - q.ts
	}
	return t.fill(q, k, m.TS, m.Msg, lat, false)
}

// expire reports the queries older than the timeout at monotonic time now,
// calling emit for each.
func (t *tracker) expire(now uint64, emit func(*event.Dynamic)) {
	for k, q := range t.pending {
		if now < q.ts || now-q.ts < t.timeout {
			continue
		}
		delete(t.pending, k)
		emit(t.fill(q, k, now, nil, 0, true))
	}
}

func (t *tracker) fill(q query, k key, ts uint64, ans *mdns.Msg, lat uint64, timeout bool) *event.Dynamic {
	ev := t.ev
	o := q.owner
	// The process as the socket hook saw it when it connected or sent.
	ev.Header = event.Header{
		Time: t.clock.Time(q.ts), Type: KindName, PID: o.Pid, TID: o.Tid, PPID: o.Ppid, UID: o.Uid,
		CgroupID: o.CgroupId, Comm: collector.CString(o.Comm[:]),
		StartNS: o.StartNs, StartTime: t.clock.Time(o.StartNs), ParentStartNS: o.PstartNs,
	}
	v := ev.Values
	for i := range v {
		v[i] = event.Value{}
	}
	v[fQName] = event.StringValue(k.qname)
	v[fQType] = event.StringValue(TypeName(k.qtype))
	v[fServer] = event.StringValue(q.server.Addr().Unmap().String())
	v[fServerPort] = event.UintValue(uint64(q.server.Port()))
	v[fClientPort] = event.UintValue(uint64(q.client.Port()))
	v[fID] = event.UintValue(uint64(k.id))
	v[fTransport] = event.StringValue("udp")
	if q.tcp {
		v[fTransport] = event.StringValue("tcp")
	}
	if timeout {
		v[fTimeout] = event.BoolValue(true)
		return ev
	}
	v[fRCode] = event.StringValue(RcodeName(ans.Rcode))
	v[fLatency] = event.UintValue(lat)
	if len(ans.Answer) > 0 {
		a := make([]string, 0, len(ans.Answer))
		for _, rr := range ans.Answer {
			a = append(a, answerText(rr))
		}
		v[fAnswers] = event.StringsValue(a)
	}
	return ev
}

// answerText is an address for A and AAAA, "TYPE data" for the others.
func answerText(rr mdns.RR) string {
	switch r := rr.(type) {
	case *mdns.A:
		return r.A.String()
	case *mdns.AAAA:
		return r.AAAA.String()
	}
	return mdns.TypeToString[rr.Header().Rrtype] + " " + strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
}

// TypeName names a query type as dig does (A, AAAA, TYPE65280).
func TypeName(t uint16) string { return mdns.Type(t).String() }

// RcodeName names a response code (NOERROR, NXDOMAIN, RCODE42).
func RcodeName(rc int) string {
	if s, ok := mdns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}
