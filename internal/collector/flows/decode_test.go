package flows

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

var testClock = collector.NewClock()

func raw(t testing.TB, k *flowsFlowKey, v *flowsFlow) ([]byte, []byte) {
	t.Helper()
	var kb, vb bytes.Buffer
	if err := binary.Write(&kb, binary.LittleEndian, k); err != nil {
		t.Fatal(err)
	}
	if err := binary.Write(&vb, binary.LittleEndian, v); err != nil {
		t.Fatal(err)
	}
	return kb.Bytes(), vb.Bytes()
}

func TestDecode(t *testing.T) {
	comm := [16]uint8{'c', 'u', 'r', 'l'}
	v6 := netip.MustParseAddr("2001:db8::7").As16()
	for _, tt := range []struct {
		name string
		k    flowsFlowKey
		v    flowsFlow
		ok   bool
		want Flow
	}{
		{
			name: "tcp4 established",
			k:    flowsFlowKey{Netns: 4096, Laddr: [16]uint8{10, 0, 0, 1}, Raddr: [16]uint8{192, 0, 2, 9}, Lport: 40000, Rport: 443, Family: 4, Proto: 6},
			v: flowsFlow{FirstNs: 1000, LastNs: 5000, Cookie: 7, Bytes: [2]uint64{100, 2000}, Packets: [2]uint64{3, 4},
				Owner: flowsOwner{CgroupId: 55, Pid: 42, Tid: 43, Uid: 1000, Comm: comm}, Retrans: 2, SrttUs: 1500, State: 1, Dir: 1},
			ok: true,
			want: Flow{Proto: "tcp", Local: netip.MustParseAddrPort("10.0.0.1:40000"), Remote: netip.MustParseAddrPort("192.0.2.9:443"),
				Netns: 4096, Direction: "out", PID: 42, TID: 43, UID: 1000, Comm: "curl", CgroupID: 55, BytesSent: 100, BytesReceived: 2000,
				PacketsSent: 3, PacketsRecv: 4, Retransmits: 2, SRTT: 1500 * time.Microsecond, State: "ESTABLISHED",
				First: testClock.Time(1000), Last: testClock.Time(5000)},
		},
		{
			name: "udp6 released later, inbound",
			k:    flowsFlowKey{Laddr: v6, Raddr: v6, Lport: 53, Rport: 5353, Family: 6, Proto: 17},
			v:    flowsFlow{FirstNs: 1, LastNs: 2, Bytes: [2]uint64{9, 8}, Packets: [2]uint64{1, 1}, Dir: 2, State: 7, Retrans: 3},
			ok:   true,
			want: Flow{Proto: "udp", Local: netip.MustParseAddrPort("[2001:db8::7]:53"), Remote: netip.MustParseAddrPort("[2001:db8::7]:5353"),
				Direction: "in", BytesSent: 9, BytesReceived: 8, PacketsSent: 1, PacketsRecv: 1, First: testClock.Time(1), Last: testClock.Time(2)},
		},
		{
			name: "tcp closed",
			k:    flowsFlowKey{Family: 4, Proto: 6},
			v:    flowsFlow{FirstNs: 10, LastNs: 20, EndNs: 30, Ended: 1, State: 7},
			ok:   true,
			want: Flow{Proto: "tcp", Local: netip.MustParseAddrPort("0.0.0.0:0"), Remote: netip.MustParseAddrPort("0.0.0.0:0"),
				State: "CLOSE", First: testClock.Time(10), Last: testClock.Time(20), End: "closed", EndTime: testClock.Time(30)},
		},
		{name: "bad family", k: flowsFlowKey{Family: 5, Proto: 6}},
		{name: "bad protocol", k: flowsFlowKey{Family: 4, Proto: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeFlow(&tt.k, &tt.v, testClock)
			if ok != tt.ok || ok && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decodeFlow = %+v, %v\nwant %+v, %v", got, ok, tt.want, tt.ok)
			}
			// The byte decoder reads the kernel's layout the same way.
			kb, vb := raw(t, &tt.k, &tt.v)
			if len(kb) != keySize || len(vb) != valueSize {
				t.Fatalf("layout: key %d bytes, value %d; want %d, %d", len(kb), len(vb), keySize, valueSize)
			}
			got2, ok2 := Decode(kb, vb, testClock)
			if ok2 != ok || !reflect.DeepEqual(got2, got) {
				t.Errorf("Decode = %+v, %v; decodeFlow %+v, %v", got2, ok2, got, ok)
			}
		})
	}
	if _, ok := Decode(make([]byte, keySize-1), make([]byte, valueSize), testClock); ok {
		t.Error("Decode accepted a short key")
	}
}

func TestStateName(t *testing.T) {
	for s, want := range map[uint8]string{0: "", 1: "ESTABLISHED", 7: "CLOSE", 10: "LISTEN", 12: "NEW_SYN_RECV", 13: "STATE_13", 255: "STATE_255"} {
		if got := StateName(s); got != want {
			t.Errorf("StateName(%d) = %q, want %q", s, got, want)
		}
	}
}

func TestFill(t *testing.T) {
	f := Flow{Proto: "udp", Local: netip.MustParseAddrPort("10.0.0.1:5000"), Remote: netip.MustParseAddrPort("10.0.0.2:53"),
		Direction: "out", PID: 9, Comm: "dig", BytesSent: 40, BytesReceived: 120, PacketsSent: 1, PacketsRecv: 1,
		First: time.Unix(100, 0), EndTime: time.Unix(101, 500), End: "released", Netns: 3}
	ev := event.NewDynamic(Kind)
	fill(ev, &f)
	got := string(ev.AppendFields(nil))
	want := `"proto":"udp","local_addr":"10.0.0.1","local_port":5000,"remote_addr":"10.0.0.2","remote_port":53,"direction":"out","bytes_sent":40,"bytes_received":120,"packets_sent":1,"packets_received":1,"age_ns":1000000500,"end":"released","netns_cookie":3`
	if got != want && got != ","+want {
		t.Errorf("fields\n%s\nwant\n%s", got, want)
	}
	if ev.PID != 9 || ev.Comm != "dig" || !ev.Time.Equal(f.EndTime) || ev.Type != "flow" {
		t.Errorf("header %+v", ev.Header)
	}
}

func FuzzDecode(f *testing.F) {
	k := flowsFlowKey{Family: 4, Proto: 6, Lport: 1, Rport: 2}
	v := flowsFlow{State: 1, Dir: 1, Ended: 1, Owner: flowsOwner{Comm: [16]uint8{'x'}}}
	kb, vb := raw(f, &k, &v)
	f.Add(kb, vb)
	k.Family, k.Proto = 6, 17
	kb, vb = raw(f, &k, &v)
	f.Add(kb, vb)
	f.Add([]byte{}, []byte{1})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		fl, ok := Decode(key, value, testClock)
		if !ok {
			return
		}
		if fl.Proto != "tcp" && fl.Proto != "udp" || !fl.Local.IsValid() || !fl.Remote.IsValid() {
			t.Fatalf("decoded %+v", fl)
		}
		if fl.Proto == "udp" && (fl.State != "" || fl.Retransmits != 0) {
			t.Fatalf("udp flow with TCP fields: %+v", fl)
		}
		ev := event.NewDynamic(Kind)
		fill(ev, &fl)
		ev.AppendFields(nil)
	})
}
