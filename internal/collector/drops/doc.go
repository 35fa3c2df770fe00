// Package drops is the collector of packets the kernel drops: one event per
// skb:kfree_skb with the kernel's drop reason (named from the running
// kernel's enum skb_drop_reason, read from its BTF), the symbolized place
// that dropped it, the interface and the IPv4/IPv6 5-tuple when the
// packet's headers are set, and kscope_packet_drops_total{reason} counted in
// the kernel. Its events are of kind "drop", registered here.
package drops
