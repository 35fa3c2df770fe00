package connect

import (
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

const recordSize = int(unsafe.Sizeof(connectConnectEvent{}))

// Address families and socket types of the record (linux/socket.h, linux/net.h).
const (
	afInet  = 2
	afInet6 = 10
	sockRaw = 3
)

// protoNames names the sk_protocol values a connect is likely to see.
var protoNames = map[uint16]string{
	1:   "icmp", // ping sockets
	6:   "tcp",
	17:  "udp",
	58:  "icmpv6",
	132: "sctp",
	136: "udplite",
	262: "mptcp",
}

// decoder turns ring buffer records into *event.Connect, reusing one event.
type decoder struct {
	clock collector.Clock
	raw   connectConnectEvent
	ev    event.Connect
}

// decode parses one record, a whole struct connect_event. A family other
// than AF_INET or AF_INET6 makes it malformed: the kernel sends no other.
func (d *decoder) decode(b []byte) (event.Event, bool) {
	if len(b) < recordSize {
		return nil, false
	}
	raw := &d.raw
	copy(unsafe.Slice((*byte)(unsafe.Pointer(raw)), recordSize), b)
	ev := &d.ev
	switch raw.Family {
	case afInet:
		ev.Family = "inet"
		ev.SAddr = netip.AddrFrom4([4]byte(raw.Saddr[:4])).String()
		ev.DAddr = netip.AddrFrom4([4]byte(raw.Daddr[:4])).String()
	case afInet6:
		ev.Family = "inet6"
		ev.SAddr = netip.AddrFrom16(raw.Saddr).String()
		ev.DAddr = netip.AddrFrom16(raw.Daddr).String()
	default:
		return nil, false
	}
	collector.FillHeader(&ev.Header, &raw.Hdr, Name, d.clock)
	ev.Proto = protoName(raw.Protocol, raw.SockType)
	ev.SPort = raw.Sport
	ev.DPort = raw.Dport
	ev.AddrUnavailable = raw.AddrUnavailable != 0
	if ev.AddrUnavailable {
		ev.DAddr = ""
	}
	ev.Ret = raw.Ret
	ev.Error = event.ErrnoName(int64(raw.Ret))
	ev.LatencyNS = raw.LatencyNs
	return ev, true
}

// protoName names a socket's protocol: "" when the fd was no socket, "raw"
// for any raw socket (its protocol is that of the packets it builds).
func protoName(proto, sockType uint16) string {
	switch {
	case proto == 0 && sockType == 0:
		return ""
	case sockType == sockRaw:
		return "raw"
	}
	if s, ok := protoNames[proto]; ok {
		return s
	}
	return "ipproto-" + strconv.Itoa(int(proto))
}
