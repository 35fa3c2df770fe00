package dns

import (
	"fmt"
	"testing"
	"unsafe"

	mdns "github.com/miekg/dns"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// rec builds a record of msg as the BPF program writes it.
func rec(t testing.TB, msg *mdns.Msg, egress bool, ts uint64) []byte {
	b, err := msg.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var r dnsDnsEvent
	r.TsNs, r.Cookie, r.Family, r.Proto = ts, 7, 4, 17
	r.Owner.Pid, r.Owner.Tid = 42, 43
	copy(r.Owner.Comm[:], "dig")
	client, server := []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}
	if egress {
		r.Egress = 1
		copy(r.Saddr[:], client)
		copy(r.Daddr[:], server)
		r.Sport, r.Dport = 40000, 53
	} else {
		copy(r.Saddr[:], server)
		copy(r.Daddr[:], client)
		r.Sport, r.Dport = 53, 40000
	}
	r.Len = uint16(copy(r.Data[:], b))
	r.MsgLen = uint32(len(b))
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&r)), recordSize)...)
}

func TestTracker(t *testing.T) {
	q := new(mdns.Msg)
	q.SetQuestion("Example.COM.", mdns.TypeMX)
	q.Id = 9
	a := new(mdns.Msg)
	a.SetReply(q)
	mx, _ := mdns.NewRR("example.com. 60 IN MX 10 mail.example.com.")
	cname, _ := mdns.NewRR("example.com. 60 IN CNAME other.example.")
	a.Answer = []mdns.RR{mx, cname}
	other := a.Copy()
	other.Id = 10

	tr := newTracker(collector.NewClock(), 1e9)
	var raw dnsDnsEvent
	add := func(b []byte) string {
		m, ok := Decode(b, &raw)
		if !ok {
			return "rejected"
		}
		ev := tr.add(&m)
		if ev == nil {
			return ""
		}
		return fmt.Sprint(ev.PID, " ", ev.Comm, " ", ev.Values[fQName].Str, " ", ev.Values[fQType].Str, " ", ev.Values[fRCode].Str, " ",
			ev.Values[fAnswers].Strs, " ", ev.Values[fLatency].Num, " ", ev.Values[fServer].Str, " ", ev.Values[fClientPort].Num)
	}
	for _, step := range []struct {
		name string
		rec  []byte
		want string
	}{
		{"query", rec(t, q, true, 1000), ""},
		{"an answer to another id", rec(t, other, false, 1500), ""},
		{"its answer", rec(t, a, false, 3000), "42 dig example.com. MX NOERROR [MX 10 mail.example.com. CNAME other.example.] 2000 10.0.0.2 40000"},
		{"the answer again", rec(t, a, false, 3500), ""},
		{"short", rec(t, q, true, 0)[:recordSize-1], "rejected"},
	} {
		if got := add(step.rec); got != step.want {
			t.Errorf("%s: %q, want %q", step.name, got, step.want)
		}
	}
	if tr.unmatched != 2 {
		t.Errorf("unmatched %d, want 2", tr.unmatched)
	}

	// A query with no answer is reported once, at the timeout.
	add(rec(t, q, true, 10_000))
	var n int
	tr.expire(10_000+1e9-1, func(*event.Dynamic) { n++ })
	if n != 0 {
		t.Errorf("expired before the timeout")
	}
	tr.expire(10_000+1e9, func(ev *event.Dynamic) {
		n++
		if !ev.Values[fTimeout].Bool || ev.Values[fRCode].Str != "" || ev.Values[fQName].Str != "example.com." {
			t.Errorf("timeout event %+v", ev.Values)
		}
	})
	if n != 1 || len(tr.pending) != 0 {
		t.Errorf("%d timeouts, %d pending; want 1, 0", n, len(tr.pending))
	}

	// The pending queries are bounded.
	for i := range maxPending + 3 {
		m := q.Copy()
		m.Id = uint16(i)
		add(rec(t, m, true, 1))
	}
	if len(tr.pending) != maxPending || tr.overflow != 3 {
		t.Errorf("%d pending, %d overflowed; want %d, 3", len(tr.pending), tr.overflow, maxPending)
	}
}

func TestDecodeRejects(t *testing.T) {
	q := new(mdns.Msg)
	q.SetQuestion("example.com.", mdns.TypeA)
	var raw dnsDnsEvent
	good := rec(t, q, true, 1)
	badFamily := append([]byte(nil), good...)
	badFamily[unsafe.Offsetof(raw.Family)] = 5
	badLen := append([]byte(nil), good...)
	badLen[unsafe.Offsetof(raw.Len)] = 0xff
	badLen[unsafe.Offsetof(raw.Len)+1] = 0xff
	cut := append([]byte(nil), good...)
	cut[unsafe.Offsetof(raw.Len)] = 5 // the header cut short
	noQuestion := rec(t, new(mdns.Msg), true, 1)
	for name, b := range map[string][]byte{"family": badFamily, "len": badLen, "cut": cut, "no question": noQuestion} {
		if _, ok := Decode(b, &raw); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if m, ok := Decode(good, &raw); !ok || m.Client.String() != "10.0.0.1:40000" || m.Server.String() != "10.0.0.2:53" {
		t.Errorf("good record: %v %v", m, ok)
	}
}

func FuzzDecode(f *testing.F) {
	q := new(mdns.Msg)
	q.SetQuestion("example.com.", mdns.TypeA)
	f.Add(rec(f, q, true, 1))
	a := new(mdns.Msg)
	a.SetReply(q)
	f.Add(rec(f, a, false, 2))
	f.Add(recTCP(f, q, true, 3, 0))
	tr := newTracker(collector.NewClock(), 1)
	var raw dnsDnsEvent
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := Decode(b, &raw)
		if !ok {
			return
		}
		if len(m.Msg.Question) != 1 {
			t.Fatal("accepted a message without one question")
		}
		tr.add(&m)
		tr.expire(^uint64(0), func(*event.Dynamic) {})
	})
}

// recTCP is rec for a TCP segment holding the length-prefixed message,
// cut to its first cut bytes when cut > 0.
func recTCP(t testing.TB, msg *mdns.Msg, egress bool, ts uint64, cut int) []byte {
	b, err := msg.Pack()
	if err != nil {
		t.Fatal(err)
	}
	seg := append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)
	r := rec(t, msg, egress, ts)
	var raw dnsDnsEvent
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&raw)), recordSize), r)
	raw.Proto = 6
	raw.MsgLen = uint32(len(seg))
	if cut > 0 {
		seg = seg[:cut]
	}
	raw.Len = uint16(copy(raw.Data[:], seg))
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&raw)), recordSize)...)
}

func TestDecodeTCP(t *testing.T) {
	q := new(mdns.Msg)
	q.SetQuestion("example.com.", mdns.TypeAAAA)
	q.Id = 77
	a := new(mdns.Msg)
	a.SetReply(q)
	a.Rcode = mdns.RcodeServerFailure
	var raw dnsDnsEvent
	tr := newTracker(collector.NewClock(), 1e9)
	m, ok := Decode(recTCP(t, q, true, 100, 0), &raw)
	if !ok || !m.TCP || m.Msg.Id != 77 {
		t.Fatalf("query over TCP: %v %+v", ok, m)
	}
	tr.add(&m)
	if _, ok := Decode(recTCP(t, a, false, 150, 10), &raw); ok {
		t.Error("a message cut short was accepted")
	}
	m, ok = Decode(recTCP(t, a, false, 200, 0), &raw)
	if !ok {
		t.Fatal("answer over TCP rejected")
	}
	ev := tr.add(&m)
	if ev == nil || ev.Values[fTransport].Str != "tcp" || ev.Values[fRCode].Str != "SERVFAIL" || ev.Values[fLatency].Num != 100 {
		t.Fatalf("event %+v", ev)
	}
}
