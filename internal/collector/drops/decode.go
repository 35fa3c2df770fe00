package drops

import (
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

const recordSize = int(unsafe.Sizeof(dropsDropEvent{}))

// decoder turns ring buffer records into drop events, reusing one event.
type decoder struct {
	clock   collector.Clock
	reasons Reasons
	// symbolize names a kernel address; nil leaves it as 0xADDR.
	symbolize func(addr uint64) string
	raw       dropsDropEvent
	ev        *event.Dynamic
}

func newDecoder(reasons Reasons, symbolize func(uint64) string) *decoder {
	return &decoder{clock: collector.NewClock(), reasons: reasons, symbolize: symbolize, ev: event.NewDynamic(Kind)}
}

func (d *decoder) decode(b []byte) (event.Event, bool) {
	if len(b) < recordSize {
		return nil, false
	}
	raw := &d.raw
	copy(unsafe.Slice((*byte)(unsafe.Pointer(raw)), recordSize), b)
	ev := d.ev
	collector.FillHeader(&ev.Header, &raw.Hdr, KindName, d.clock)
	v := ev.Values
	for i := range v {
		v[i] = event.Value{}
	}
	v[fReason] = event.StringValue(d.reasons.Name(raw.Reason))
	v[fReasonCode] = event.UintValue(uint64(raw.Reason))
	loc := ""
	if d.symbolize != nil {
		loc = d.symbolize(raw.Location)
	}
	if loc == "" {
		loc = "0x" + strconv.FormatUint(raw.Location, 16)
	}
	v[fLocation] = event.StringValue(loc)
	v[fIfindex] = event.UintValue(uint64(raw.Ifindex))
	v[fIfname] = event.StringValue(collector.CString(raw.Ifname[:]))
	v[fProtocol] = event.StringValue(EtherType(raw.Protocol))
	v[fLen] = event.UintValue(uint64(raw.Len))
	var src, dst netip.Addr
	switch raw.Family {
	case 4:
		src = netip.AddrFrom4([4]byte(raw.Saddr[:4]))
		dst = netip.AddrFrom4([4]byte(raw.Daddr[:4]))
	case 6:
		src = netip.AddrFrom16(raw.Saddr)
		dst = netip.AddrFrom16(raw.Daddr)
	default:
		return ev, true
	}
	v[fSaddr] = event.StringValue(src.String())
	v[fDaddr] = event.StringValue(dst.String())
	v[fL4] = event.StringValue(L4Name(raw.L4proto, raw.Family))
	if raw.L4proto == 6 || raw.L4proto == 17 {
		v[fSport] = event.UintValue(uint64(raw.Sport))
		v[fDport] = event.UintValue(uint64(raw.Dport))
	}
	return ev, true
}

// EtherType names a link-layer protocol (skb->protocol, host order).
func EtherType(p uint16) string {
	switch p {
	case 0x0800:
		return "ipv4"
	case 0x86dd:
		return "ipv6"
	case 0x0806:
		return "arp"
	}
	return "0x" + strconv.FormatUint(uint64(p), 16)
}

// L4Name names an IP protocol number; family 6 names 58 icmpv6.
func L4Name(p uint8, family uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		if family == 6 {
			return "icmpv6"
		}
	case 132:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}
