package flows

import "github.com/kscope/kscope/internal/event"

// KindName is the type of flow events.
const KindName = "flow"

// The fields of a flow event, in JSON order.
const (
	fProto = iota
	fLocalAddr
	fLocalPort
	fRemoteAddr
	fRemotePort
	fDirection
	fBytesSent
	fBytesReceived
	fPacketsSent
	fPacketsReceived
	fRetransmits
	fSRTT
	fState
	fAge
	fEnd
	fNetns
	nFields
)

// Kind describes flow events: one per flow, when it ends, with its totals.
var Kind = mustKind()

func mustKind() *event.Kind {
	k, err := event.NewKind(KindName, "A TCP or UDP flow that ended, with its totals each way", []event.Field{
		fProto:           {Name: "proto", Type: event.TypeString, Doc: "tcp or udp"},
		fLocalAddr:       {Name: "local_addr", Type: event.TypeString, Doc: "the local address (IPv4 or IPv6)"},
		fLocalPort:       {Name: "local_port", Type: event.TypeUint, Doc: "the local port"},
		fRemoteAddr:      {Name: "remote_addr", Type: event.TypeString, Doc: "the remote address"},
		fRemotePort:      {Name: "remote_port", Type: event.TypeUint, Doc: "the remote port"},
		fDirection:       {Name: "direction", Type: event.TypeString, Doc: "out: the local side opened it (sent the SYN, or sent first over UDP); in: the remote side did; empty: not seen", Omit: true},
		fBytesSent:       {Name: "bytes_sent", Type: event.TypeUint, Doc: "payload bytes sent: UDP data, or TCP data acknowledged by the peer (retransmissions not counted twice)"},
		fBytesReceived:   {Name: "bytes_received", Type: event.TypeUint, Doc: "payload bytes received (TCP: the data received in order)"},
		fPacketsSent:     {Name: "packets_sent", Type: event.TypeUint, Doc: "packets sent (segments of a GSO packet each count)"},
		fPacketsReceived: {Name: "packets_received", Type: event.TypeUint, Doc: "packets received"},
		fRetransmits:     {Name: "retransmits", Type: event.TypeUint, Doc: "TCP segments retransmitted", Omit: true},
		fSRTT:            {Name: "srtt_us", Type: event.TypeUint, Doc: "TCP smoothed round-trip time, microseconds", Omit: true},
		fState:           {Name: "state", Type: event.TypeString, Doc: "TCP: the socket's last state (CLOSE when it ended); empty for UDP", Omit: true},
		fAge:             {Name: "age_ns", Type: event.TypeUint, Doc: "from the flow's first packet seen to its end (an open flow's: to its last packet)"},
		fEnd:             {Name: "end", Type: event.TypeString, Doc: "why it ended: closed (TCP_CLOSE), released (the UDP socket was closed), idle (no packet for the idle timeout); left out while the flow is open", Omit: true},
		fNetns:           {Name: "netns_cookie", Type: event.TypeUint, Doc: "the network namespace's cookie"},
	})
	if err != nil {
		panic(err)
	}
	k.Summary = []string{"proto", "remote_addr", "remote_port", "bytes_sent", "bytes_received", "state"}
	return k
}

func init() {
	if err := event.Register(Kind); err != nil {
		panic(err)
	}
}
