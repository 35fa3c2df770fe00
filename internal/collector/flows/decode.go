package flows

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/kscope/kscope/internal/collector"
	"github.com/kscope/kscope/internal/event"
)

// Flow is one flow as the collector last read it.
type Flow struct {
	Proto         string // tcp or udp
	Local, Remote netip.AddrPort
	Netns         uint64 // the network namespace's cookie
	Direction     string // out, in or ""
	PID, TID, UID uint32 // the owning process; 0: not seen
	Comm          string
	CgroupID      uint64
	BytesSent     uint64
	BytesReceived uint64
	PacketsSent   uint64
	PacketsRecv   uint64
	Retransmits   uint32
	SRTT          time.Duration
	State         string // TCP state; "" for UDP
	First, Last   time.Time
	// End is why the flow ended (closed, released, idle); "" while open.
	End     string
	EndTime time.Time
}

// Age is how long the flow has lived: to its end, or to now.
func (f *Flow) Age(now time.Time) time.Duration {
	if !f.EndTime.IsZero() {
		now = f.EndTime
	}
	if now.Before(f.First) {
		return 0
	}
	return now.Sub(f.First)
}

// tcpStates names the kernel's TCP states (include/net/tcp_states.h).
var tcpStates = [...]string{"", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
	"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"}

// StateName names a TCP state, or STATE_N for one the table lacks.
func StateName(s uint8) string {
	if int(s) < len(tcpStates) && s != 0 {
		return tcpStates[s]
	}
	if s == 0 {
		return ""
	}
	return "STATE_" + itoa(uint64(s))
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// decodeFlow turns a kernel entry into a Flow; ok is false for an entry
// no program could have made (unknown family or protocol).
func decodeFlow(k *flowsFlowKey, v *flowsFlow, clock collector.Clock) (f Flow, ok bool) {
	var laddr, raddr netip.Addr
	switch k.Family {
	case 4:
		laddr = netip.AddrFrom4([4]byte(k.Laddr[:4]))
		raddr = netip.AddrFrom4([4]byte(k.Raddr[:4]))
	case 6:
		laddr = netip.AddrFrom16(k.Laddr)
		raddr = netip.AddrFrom16(k.Raddr)
	default:
		return Flow{}, false
	}
	switch k.Proto {
	case 6:
		f.Proto = "tcp"
		f.State = StateName(v.State)
		f.Retransmits = v.Retrans
		f.SRTT = time.Duration(v.SrttUs) * time.Microsecond
	case 17:
		f.Proto = "udp"
	default:
		return Flow{}, false
	}
	f.Local = netip.AddrPortFrom(laddr, k.Lport)
	f.Remote = netip.AddrPortFrom(raddr, k.Rport)
	f.Netns = k.Netns
	switch v.Dir {
	case 1:
		f.Direction = "out"
	case 2:
		f.Direction = "in"
	}
	f.PID, f.TID, f.UID = v.Owner.Pid, v.Owner.Tid, v.Owner.Uid
	f.Comm = collector.CString(v.Owner.Comm[:])
	f.CgroupID = v.Owner.CgroupId
	f.BytesSent, f.BytesReceived = v.Bytes[0], v.Bytes[1]
	f.PacketsSent, f.PacketsRecv = v.Packets[0], v.Packets[1]
	f.First = clock.Time(v.FirstNs)
	f.Last = clock.Time(v.LastNs)
	if v.Ended != 0 {
		f.End = "closed"
		f.EndTime = clock.Time(v.EndNs)
	}
	return f, true
}

// keySize and valueSize are the kernel structures' sizes.
const (
	keySize   = 8 + 16 + 16 + 2 + 2 + 1 + 1 + 2
	valueSize = 8*4 + 16 + 16 + (8 + 4*3 + 16 + 4) + 4 + 4 + 8
)

// Decode decodes a kernel key and value laid out as in flows.bpf.c (little
// endian) into a Flow; ok is false when they are short or hold what no
// program makes.
func Decode(key, value []byte, clock collector.Clock) (Flow, bool) {
	if len(key) < keySize || len(value) < valueSize {
		return Flow{}, false
	}
	le := binary.LittleEndian
	var k flowsFlowKey
	k.Netns = le.Uint64(key)
	copy(k.Laddr[:], key[8:24])
	copy(k.Raddr[:], key[24:40])
	k.Lport = le.Uint16(key[40:])
	k.Rport = le.Uint16(key[42:])
	k.Family, k.Proto = key[44], key[45]
	var v flowsFlow
	v.FirstNs, v.LastNs, v.EndNs, v.Cookie = le.Uint64(value), le.Uint64(value[8:]), le.Uint64(value[16:]), le.Uint64(value[24:])
	v.Bytes = [2]uint64{le.Uint64(value[32:]), le.Uint64(value[40:])}
	v.Packets = [2]uint64{le.Uint64(value[48:]), le.Uint64(value[56:])}
	o := value[64:]
	v.Owner.CgroupId = le.Uint64(o)
	v.Owner.Pid, v.Owner.Tid, v.Owner.Uid = le.Uint32(o[8:]), le.Uint32(o[12:]), le.Uint32(o[16:])
	copy(v.Owner.Comm[:], o[20:36])
	r := value[104:]
	v.Retrans, v.SrttUs = le.Uint32(r), le.Uint32(r[4:])
	v.State, v.Dir, v.Ended = r[8], r[9], r[10]
	return decodeFlow(&k, &v, clock)
}

// Event returns f as an event of kind flow: at its end when it ended,
// else at its last packet, without the end field.
func (f *Flow) Event() *event.Dynamic {
	ev := event.NewDynamic(Kind)
	fill(ev, f)
	if f.EndTime.IsZero() {
		ev.Time = f.Last
	}
	return ev
}

// fill sets ev to f's event.
func fill(ev *event.Dynamic, f *Flow) {
	ev.Header = event.Header{
		Time: f.EndTime, Type: KindName, PID: f.PID, TID: f.TID, UID: f.UID,
		Comm: f.Comm, CgroupID: f.CgroupID,
	}
	v := ev.Values
	for i := range v {
		v[i] = event.Value{}
	}
	v[fProto] = event.StringValue(f.Proto)
	v[fLocalAddr] = event.StringValue(f.Local.Addr().String())
	v[fLocalPort] = event.UintValue(uint64(f.Local.Port()))
	v[fRemoteAddr] = event.StringValue(f.Remote.Addr().String())
	v[fRemotePort] = event.UintValue(uint64(f.Remote.Port()))
	v[fDirection] = event.StringValue(f.Direction)
	v[fBytesSent] = event.UintValue(f.BytesSent)
	v[fBytesReceived] = event.UintValue(f.BytesReceived)
	v[fPacketsSent] = event.UintValue(f.PacketsSent)
	v[fPacketsReceived] = event.UintValue(f.PacketsRecv)
	v[fRetransmits] = event.UintValue(uint64(f.Retransmits))
	v[fSRTT] = event.UintValue(uint64(f.SRTT / time.Microsecond))
	v[fState] = event.StringValue(f.State)
	v[fAge] = event.UintValue(uint64(f.Age(f.Last)))
	v[fEnd] = event.StringValue(f.End)
	v[fNetns] = event.UintValue(f.Netns)
}
