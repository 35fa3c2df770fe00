package connect

import (
	"bytes"
	"net/netip"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// record returns the bytes of a struct connect_event built by fill.
func record(fill func(r *connectConnectEvent)) []byte {
	var r connectConnectEvent
	r.Hdr.TsNs = 5_000_000
	r.Hdr.CgroupId = 9
	r.Hdr.StartNs, r.Hdr.PstartNs = 4_000_000, 2_000
	r.Hdr.Pid, r.Hdr.Tid, r.Hdr.Ppid, r.Hdr.Uid = 100, 101, 1, 0
	copy(r.Hdr.Comm[:], "curl")
	fill(&r)
	return bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r)))
}

func addr(s string) [16]byte {
	a := netip.MustParseAddr(s)
	var b [16]byte
	if a.Is4() {
		v := a.As4()
		copy(b[:], v[:])
		return b
	}
	return a.As16()
}

func TestDecode(t *testing.T) {
	clk := collector.NewClock()
	for _, tc := range []struct {
		name string
		rec  []byte
		want event.Connect // Header is checked separately
	}{
		{
			name: "tcp4 established",
			rec: record(func(r *connectConnectEvent) {
				r.Family, r.Protocol, r.SockType = 2, 6, 1
				r.Saddr, r.Sport = addr("127.0.0.1"), 40000
				r.Daddr, r.Dport = addr("127.0.0.1"), 8080
				r.LatencyNs = 12345
			}),
			want: event.Connect{Family: "inet", Proto: "tcp", SAddr: "127.0.0.1", SPort: 40000, DAddr: "127.0.0.1", DPort: 8080, LatencyNS: 12345},
		},
		{
			name: "tcp4 refused",
			rec: record(func(r *connectConnectEvent) {
				r.Family, r.Protocol, r.SockType = 2, 6, 1
				r.Saddr, r.Sport = addr("10.0.0.2"), 51000
				r.Daddr, r.Dport = addr("10.0.0.1"), 1
				r.Ret = -111
			}),
			want: event.Connect{Family: "inet", Proto: "tcp", SAddr: "10.0.0.2", SPort: 51000, DAddr: "10.0.0.1", DPort: 1, Ret: -111, Error: "ECONNREFUSED"},
		},
		{
			name: "tcp6",
			rec: record(func(r *connectConnectEvent) {
				r.Family, r.Protocol, r.SockType = 10, 6, 1
				r.Saddr, r.Sport = addr("::1"), 40001
				r.Daddr, r.Dport = addr("2001:db8::1"), 443
			}),
			want: event.Connect{Family: "inet6", Proto: "tcp", SAddr: "::1", SPort: 40001, DAddr: "2001:db8::1", DPort: 443},
		},
		{
			name: "IPv4-mapped stays as written",
			rec: record(func(r *connectConnectEvent) {
				r.Family, r.Protocol, r.SockType = 10, 6, 1
				r.Saddr, r.Sport = addr("::ffff:127.0.0.1"), 40002
				r.Daddr, r.Dport = addr("::ffff:127.0.0.1"), 80
			}),
			want: event.Connect{Family: "inet6", Proto: "tcp", SAddr: "::ffff:127.0.0.1", SPort: 40002, DAddr: "::ffff:127.0.0.1", DPort: 80},
		},
		{
			name: "udp",
			rec: record(func(r *connectConnectEvent) {
				r.Family, r.Protocol, r.SockType = 2, 17, 2
				r.Saddr, r.Sport = addr("192.0.2.7"), 33000
				r.Daddr, r.Dport = addr("192.0.2.53"), 53
			}),
			want: event.Connect{Family: "inet", Proto: "udp", SAddr: "192.0.2.7", SPort: 33000, DAddr: "192.0.2.53", DPort: 53},
		},
		{
			name: "mptcp",
			rec: record(func(r *connectConnectEvent) {
				r.Family, r.Protocol, r.SockType = 2, 262, 1
				r.Daddr, r.Dport = addr("127.0.0.1"), 80
			}),
			want: event.Connect{Family: "inet", Proto: "mptcp", SAddr: "0.0.0.0", DAddr: "127.0.0.1", DPort: 80},
		},
		{
			name: "raw socket",
			rec: record(func(r *connectConnectEvent) {
				r.Family, r.Protocol, r.SockType = 2, 17, 3
				r.Daddr = addr("127.0.0.1")
			}),
			want: event.Connect{Family: "inet", Proto: "raw", SAddr: "0.0.0.0", DAddr: "127.0.0.1"},
		},
		{
			name: "unknown protocol",
			rec: record(func(r *connectConnectEvent) {
				r.Family, r.Protocol, r.SockType = 2, 253, 2
				r.Daddr = addr("127.0.0.1")
			}),
			want: event.Connect{Family: "inet", Proto: "ipproto-253", SAddr: "0.0.0.0", DAddr: "127.0.0.1"},
		},
		{
			name: "not a socket",
			rec: record(func(r *connectConnectEvent) {
				r.Family = 2
				r.Daddr, r.Dport = addr("127.0.0.1"), 80
				r.Ret = -88
			}),
			want: event.Connect{Family: "inet", SAddr: "0.0.0.0", DAddr: "127.0.0.1", DPort: 80, Ret: -88, Error: "ENOTSOCK"},
		},
		{
			name: "abandoned handshake",
			rec: record(func(r *connectConnectEvent) {
				r.Family, r.Protocol, r.SockType = 2, 6, 1
				r.Daddr, r.Dport = addr("192.0.2.1"), 80
				r.Ret, r.LatencyNs = -115, 3_000_000_000
			}),
			want: event.Connect{Family: "inet", Proto: "tcp", SAddr: "0.0.0.0", DAddr: "192.0.2.1", DPort: 80, Ret: -115, Error: "EINPROGRESS", LatencyNS: 3_000_000_000},
		},
		{
			name: "v4 ignores the rest of the address",
			rec: record(func(r *connectConnectEvent) {
				r.Family, r.Protocol, r.SockType = 2, 6, 1
				r.Saddr = addr("::ffff:1.2.3.4")
				r.Daddr = [16]byte{127, 0, 0, 1, 0xde, 0xad}
			}),
			want: event.Connect{Family: "inet", Proto: "tcp", SAddr: "0.0.0.0", DAddr: "127.0.0.1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decoder{clock: clk}
			ev, ok := d.decode(tc.rec)
			if !ok {
				t.Fatal("decode rejected a valid record")
			}
			got := *ev.(*event.Connect)
			h := got.Header
			wantHdr := event.Header{Time: clk.Time(5_000_000), Type: "connect", PID: 100, TID: 101, PPID: 1, Comm: "curl", CgroupID: 9,
				StartNS: 4_000_000, StartTime: clk.Time(4_000_000), ParentStartNS: 2_000}
			if !h.Time.Equal(wantHdr.Time) {
				t.Errorf("time %v, want %v", h.Time, wantHdr.Time)
			}
			h.Time = wantHdr.Time
			if h != wantHdr {
				t.Errorf("header %+v, want %+v", h, wantHdr)
			}
			got.Header = event.Header{}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	ok := record(func(r *connectConnectEvent) { r.Family = 2 })
	for name, b := range map[string][]byte{
		"empty":      nil,
		"header":     ok[:48],
		"one short":  ok[:recordSize-1],
		"AF_UNIX":    record(func(r *connectConnectEvent) { r.Family = 1 }),
		"AF_UNSPEC":  record(func(r *connectConnectEvent) { r.Family = 0 }),
		"AF_NETLINK": record(func(r *connectConnectEvent) { r.Family = 16 }),
	} {
		var d decoder
		if _, accepted := d.decode(b); accepted {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(record(func(r *connectConnectEvent) {
		r.Family, r.Protocol, r.SockType = 2, 6, 1
		r.Daddr, r.Dport, r.Ret = addr("127.0.0.1"), 80, -111
	}))
	f.Add(record(func(r *connectConnectEvent) {
		r.Family, r.Protocol, r.SockType = 10, 17, 2
		r.Daddr, r.Saddr = addr("::ffff:10.0.0.1"), addr("fe80::1")
	}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d decoder
		ev, ok := d.decode(b)
		if !ok {
			return
		}
		if len(b) < recordSize {
			t.Fatalf("%d-byte record accepted", len(b))
		}
		e := ev.(*event.Connect)
		if e.Type != Name || (e.Family != "inet" && e.Family != "inet6") {
			t.Errorf("type %q family %q", e.Type, e.Family)
		}
		addrs := []string{e.SAddr, e.DAddr}
		if e.AddrUnavailable {
			// An address that could not be read is said so, never made up.
			if e.DAddr != "" {
				t.Errorf("addr_unavailable with daddr %q", e.DAddr)
			}
			addrs = addrs[:1]
		}
		for _, s := range addrs {
			a, err := netip.ParseAddr(s)
			if err != nil {
				t.Fatalf("address %q: %v", s, err)
			}
			if a.Is4() != (e.Family == "inet") {
				t.Errorf("family %s with address %s", e.Family, s)
			}
		}
		if !utf8.ValidString(e.Comm) {
			t.Errorf("comm %q", e.Comm)
		}
		if (e.Ret < 0) != (e.Error != "") {
			t.Errorf("ret %d with error %q", e.Ret, e.Error)
		}
	})
}
