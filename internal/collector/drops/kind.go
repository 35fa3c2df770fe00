package drops

import "github.com/kscope/kscope/internal/event"

// KindName is the type of drop events.
const KindName = "drop"

// The fields of a drop event, in JSON order; decode fills Values by these
// indexes.
const (
	fReason = iota
	fReasonCode
	fLocation
	fIfindex
	fIfname
	fProtocol
	fL4
	fSaddr
	fSport
	fDaddr
	fDport
	fLen
	nFields
)

// Kind describes drop events. The header's task is whatever ran when the
// packet was dropped (often a softirq on behalf of no one in particular),
// not necessarily the packet's owner.
var Kind = mustKind()

func mustKind() *event.Kind {
	k, err := event.NewKind(KindName, "A packet the kernel dropped (skb:kfree_skb), with its drop reason", []event.Field{
		fReason:     {Name: "reason", Type: event.TypeString, Doc: "the kernel's drop reason without SKB_DROP_REASON_ (NETFILTER_DROP, NO_SOCKET, …)"},
		fReasonCode: {Name: "reason_code", Type: event.TypeUint, Doc: "the reason's value in the running kernel's enum skb_drop_reason"},
		fLocation:   {Name: "location", Type: event.TypeString, Doc: "the kernel function that dropped the packet (kallsyms), or its address"},
		fIfindex:    {Name: "ifindex", Type: event.TypeUint, Doc: "the packet's interface index, 0 if it had none", Omit: true},
		fIfname:     {Name: "ifname", Type: event.TypeString, Doc: "the packet's interface name (in its network namespace)", Omit: true},
		fProtocol:   {Name: "protocol", Type: event.TypeString, Doc: "the link-layer protocol: ipv4, ipv6, arp or 0xNNNN"},
		fL4:         {Name: "l4", Type: event.TypeString, Doc: "the transport protocol (tcp, udp, icmp, icmpv6 or its number) when the IP header was parsed", Omit: true},
		fSaddr:      {Name: "saddr", Type: event.TypeString, Doc: "the source address when the IP header was parsed", Omit: true},
		fSport:      {Name: "sport", Type: event.TypeUint, Doc: "the TCP or UDP source port", Omit: true},
		fDaddr:      {Name: "daddr", Type: event.TypeString, Doc: "the destination address when the IP header was parsed", Omit: true},
		fDport:      {Name: "dport", Type: event.TypeUint, Doc: "the TCP or UDP destination port", Omit: true},
		fLen:        {Name: "len", Type: event.TypeUint, Doc: "the packet's length in bytes (skb->len) when dropped"},
	})
	if err != nil {
		panic(err)
	}
	k.Summary = []string{"reason", "location", "ifname", "l4", "saddr", "sport", "daddr", "dport"}
	k.Bad = "reason"
	return k
}

func init() {
	if err := event.Register(Kind); err != nil {
		panic(err)
	}
}
