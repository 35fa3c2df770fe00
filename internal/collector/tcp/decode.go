package tcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/kscope/kscope/internal/event"
)

// nStates is the number of counts a walk writes: TCP states 0..15.
const nStates = 16

// Kernel TCP states (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpSynSent     = 2
	tcpSynRecv     = 3
	tcpFinWait1    = 4
	tcpFinWait2    = 5
	tcpTimeWait    = 6
	tcpCloseWait   = 8
	tcpLastAck     = 9
	tcpListen      = 10
	tcpClosing     = 11
	tcpNewSynRecv  = 12
)

// stateNames are the label values of the states gauge, in foldStates order.
var stateNames = [...]string{"established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2",
	"time_wait", "close_wait", "last_ack", "listen", "closing"}

// foldStates turns a walk's counts into the gauge's values: a pending
// handshake (a request socket, NEW_SYN_RECV) counts as syn_recv, and
// sockets in CLOSE, on their way out of the tables, are left out.
func foldStates(s [nStates]uint64) [len(stateNames)]uint64 {
	return [...]uint64{
		s[tcpEstablished], s[tcpSynSent], s[tcpSynRecv] + s[tcpNewSynRecv], s[tcpFinWait1],
		s[tcpFinWait2], s[tcpTimeWait], s[tcpCloseWait], s[tcpLastAck], s[tcpListen], s[tcpClosing],
	}
}

// parseStates decodes what a walk wrote: nStates little-endian u64.
func parseStates(b []byte) ([nStates]uint64, error) {
	var s [nStates]uint64
	if len(b) != nStates*8 {
		return s, fmt.Errorf("TCP socket iterator wrote %d bytes, want %d", len(b), nStates*8)
	}
	for i := range s {
		s[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	return s, nil
}

// errnoLabel names a failed connect's socket error; 0 means the
// application closed the socket before the handshake ended.
func errnoLabel(errno uint32) string {
	if errno == 0 {
		return "none"
	}
	return event.ErrnoName(-int64(errno))
}

const (
	afInet  = 2
	afInet6 = 10
)

// endpointLabels returns laddr, lport, raddr and rport for an endpoint
// key; a port the key leaves out (ephemeral) is "". IPv4-mapped IPv6
// addresses are shown as IPv4, so a dual-stack listener's IPv4 clients look
// the same as an IPv4 listener's.
func endpointLabels(k *tcpEndpointKey) [4]string {
	return [4]string{addrString(k.Family, &k.Laddr), portString(k.Lport),
		addrString(k.Family, &k.Raddr), portString(k.Rport)}
}

func addrString(family uint16, b *[16]uint8) string {
	switch family {
	case afInet:
		return netip.AddrFrom4([4]byte(b[:4])).String()
	case afInet6:
		return netip.AddrFrom16(*b).Unmap().String()
	}
	return "family" + strconv.Itoa(int(family))
}

func portString(p uint16) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(int(p))
}

// keyString is an endpoint key's identity for TopK.
func keyString(k *tcpEndpointKey) string {
	var b [38]byte
	copy(b[0:16], k.Laddr[:])
	copy(b[16:32], k.Raddr[:])
	binary.LittleEndian.PutUint16(b[32:], k.Lport)
	binary.LittleEndian.PutUint16(b[34:], k.Rport)
	binary.LittleEndian.PutUint16(b[36:], k.Family)
	return string(b[:])
}
