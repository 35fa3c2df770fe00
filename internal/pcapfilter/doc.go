// Package pcapfilter parses tcpdump's filter language (pcap-filter(7)) and
// compiles it to eBPF for a tc (sched_cls) program, with cilium/ebpf's asm:
// no libpcap and no cgo. It builds instruction lists only and loads nothing
// (spec types only); kscope net capture's collector loads them.
//
// The forms covered are those people write: host, net (A/B, A mask M and
// partial networks), port and portrange with src, dst, src or dst and src
// and dst; ether host/src/dst; ip, ip6, arp, rarp, tcp, udp, sctp, icmp,
// icmp6; ip/ip6/ether proto; less, greater, len; byte-offset relations such
// as tcp[tcpflags] & (tcp-syn|tcp-ack) != 0; and, or, not, &&, ||, ! and
// parentheses, with and and or of equal precedence, left to right, and
// qualifiers inherited by a bare value ("port 80 or 443"). The code matches
// what libpcap generates for an Ethernet link: the same protocol checks,
// the same offsets, and a load past the packet's end rejecting the packet.
package pcapfilter
