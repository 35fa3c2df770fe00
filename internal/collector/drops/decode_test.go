package drops

import (
	"encoding/binary"
	"encoding/json"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/event"
)

var testReasons = ReasonsOf(&btf.Enum{Name: "skb_drop_reason", Values: []btf.EnumValue{
	{Name: "SKB_NOT_DROPPED_YET", Value: 0}, {Name: "SKB_CONSUMED", Value: 1},
	{Name: "SKB_DROP_REASON_NOT_SPECIFIED", Value: 2}, {Name: "SKB_DROP_REASON_NETFILTER_DROP", Value: 12},
	{Name: "SKB_DROP_REASON_MAX", Value: 12},
}})

func record(r dropsDropEvent) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&r)), recordSize)...)
}

func TestDecode(t *testing.T) {
	v4 := dropsDropEvent{Location: 0xffffffff81000010, Reason: 12, Ifindex: 3, Protocol: 0x0800, L4proto: 17, Family: 4, Sport: 5353, Dport: 53, Len: 60}
	copy(v4.Saddr[:], []byte{10, 0, 0, 1})
	copy(v4.Daddr[:], []byte{10, 0, 0, 2})
	copy(v4.Ifname[:], "eth0")
	v6 := dropsDropEvent{Reason: 2, Protocol: 0x86dd, L4proto: 58, Family: 6}
	v6.Saddr[15], v6.Daddr[15] = 1, 2
	arp := dropsDropEvent{Reason: 99, Protocol: 0x0806}
	for _, tc := range []struct {
		name string
		raw  dropsDropEvent
		want map[string]any
	}{
		{"udp4", v4, map[string]any{"reason": "NETFILTER_DROP", "reason_code": 12.0, "location": "fn", "ifindex": 3.0, "ifname": "eth0", "protocol": "ipv4", "l4": "udp", "saddr": "10.0.0.1", "sport": 5353.0, "daddr": "10.0.0.2", "dport": 53.0, "len": 60.0}},
		{"icmpv6", v6, map[string]any{"reason": "NOT_SPECIFIED", "reason_code": 2.0, "location": "0x0", "protocol": "ipv6", "l4": "icmpv6", "saddr": "::1", "daddr": "::2", "len": 0.0}},
		{"arp, unknown reason", arp, map[string]any{"reason": "REASON_99", "reason_code": 99.0, "location": "0x0", "protocol": "arp", "len": 0.0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder(testReasons, func(a uint64) string {
				if a == 0xffffffff81000010 {
					return "fn"
				}
				return ""
			})
			ev, ok := d.decode(record(tc.raw))
			if !ok {
				t.Fatal("rejected")
			}
			var m map[string]any
			if err := json.Unmarshal(event.AppendJSON(nil, ev), &m); err != nil {
				t.Fatal(err)
			}
			for _, h := range event.HeaderFields {
				delete(m, h.Name)
			}
			if len(m) != len(tc.want) {
				t.Errorf("fields %v, want %v", m, tc.want)
			}
			for k, v := range tc.want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
		})
	}
	if _, ok := newDecoder(testReasons, nil).decode(make([]byte, recordSize-1)); ok {
		t.Error("a short record was accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(record(dropsDropEvent{Reason: 12, Protocol: 0x0800, Family: 4, L4proto: 6}))
	f.Add(make([]byte, 3))
	d := newDecoder(testReasons, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, ok := d.decode(b)
		if !ok {
			if len(b) >= recordSize {
				t.Fatal("a full record was rejected")
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal(event.AppendJSON(nil, ev), &m); err != nil {
			t.Fatalf("invalid JSON: %v", err)
		}
		if got := uint32(m["reason_code"].(float64)); got != binary.LittleEndian.Uint32(b[int(unsafe.Offsetof(d.raw.Reason)):]) {
			t.Fatalf("reason_code %d", got)
		}
	})
}
