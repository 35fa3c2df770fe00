// SPDX-License-Identifier: GPL-2.0-only
/*
 * filter: `kscope net filter` rules, one program per filter, attached to an
 * interface's XDP hook (ingress) or its TC hook (tcx, or a clsact bpf
 * filter where the kernel lacks tcx) on ingress or egress.
 *
 * Matching is one lookup per dimension, whatever the number of rules: the
 * source and destination longest-prefix tries and the protocol/port trie
 * each answer with the set of rules (one bit per rule, in file order) that
 * the packet's value satisfies, and the first rule in all three sets wins.
 * The tables are compiled in Go (internal/netfilter), where each prefix's
 * set already holds the rules of the shorter prefixes that contain it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define MAX_RULES 1024
#define MASK_WORDS (MAX_RULES / 64)
/* Counter slots: a rule keeps its slot (by name) when a file replaces its
 * filter, so counts go on across applies; twice the rules so that a new
 * rule never takes a slot the program being replaced still counts in. */
#define SLOTS (2 * MAX_RULES)
#define DEFAULT_SLOT SLOTS /* packets no rule matched */

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define TC_ACT_UNSPEC (-1)
#define TC_ACT_SHOT 2

#define ACTION_ALLOW 0
#define ACTION_DROP 1
#define ACTION_RATE_LIMIT 2

#define FAMILY_V4 4
#define FAMILY_V6 6

/* Set from Go before load. */
const volatile __u8 default_drop = 0; /* default: drop */
const volatile __u8 audit = 0;        /* mode: audit, count drops and pass */

struct mask {
	__u64 w[MASK_WORDS];
};

/* Source and destination tries: family (8 bits) then the address. */
struct addr_key {
	__u32 prefixlen;
	__u8 family;
	__u8 addr[16];
	__u8 _pad[3];
};

/* Protocol/port trie: IP protocol (8 bits) then the destination port, big endian. */
struct l4_key {
	__u32 prefixlen;
	__u8 proto;
	__u8 port[2];
	__u8 _pad;
};

struct rule {
	__u64 interval_ns;  /* rate-limit: 1 s / rate */
	__u64 tolerance_ns; /* rate-limit: burst * interval */
	__u32 action;       /* ACTION_* */
	__u32 rate;         /* as written, per second */
	__u32 burst;
	__u32 slot;         /* in counters and buckets */
	__u8 name[64];      /* for list and stats */
};

struct counter {
	__u64 packets; /* matched */
	__u64 bytes;
	__u64 dropped; /* dropped, or in audit mode would have been */
	__u64 dropped_bytes;
};

/* The filter itself, for list and stats: written once by apply. */
struct filter_info {
	__u32 ifindex;
	__u32 hook;     /* 0 xdp, 1 tc-ingress, 2 tc-egress */
	__u32 nrules;
	__u8 default_drop;
	__u8 audit;
	__u8 tcx;       /* 1 attached with tcx, 0 with a clsact filter */
	__u8 _pad;
	__u64 applied_ns; /* CLOCK_REALTIME of the apply */
	__u8 ifname[16];
	__u8 name[64];
	__u8 source[256]; /* the file it came from */
};

struct rl_key {
	__u32 slot;
	__u8 family;
	__u8 _pad[3];
	__u8 addr[16];
};

const struct rule *unused_rule __attribute__((unused));
const struct counter *unused_counter __attribute__((unused));
const struct filter_info *unused_info __attribute__((unused));
const struct addr_key *unused_addr_key __attribute__((unused));
const struct l4_key *unused_l4_key __attribute__((unused));
const struct mask *unused_mask __attribute__((unused));
const struct rl_key *unused_rl_key __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct addr_key);
	__type(value, struct mask);
} src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct addr_key);
	__type(value, struct mask);
} dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct l4_key);
	__type(value, struct mask);
} l4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct rule);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOTS + 1);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct filter_info);
} info SEC(".maps");

/* Token buckets per rule and source, kept as GCRA's theoretical arrival
 * time (one u64 updated with compare-and-swap, so CPUs sharing a source
 * agree); the least recently used source is forgotten when full. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rl_key);
	__type(value, __u64);
} buckets SEC(".maps");

struct pkt {
	struct addr_key s, d;
	struct l4_key p;
};

/* Index of the lowest set bit of a non-zero word. */
static __always_inline __u32 lowest_bit(__u64 m)
{
	__u32 n = 0;

	m &= -m;
	if (m & 0xFFFFFFFF00000000ULL)
		n += 32;
	if (m & 0xFFFF0000FFFF0000ULL)
		n += 16;
	if (m & 0xFF00FF00FF00FF00ULL)
		n += 8;
	if (m & 0xF0F0F0F0F0F0F0F0ULL)
		n += 4;
	if (m & 0xCCCCCCCCCCCCCCCCULL)
		n += 2;
	if (m & 0xAAAAAAAAAAAAAAAAULL)
		n += 1;
	return n;
}

/* Parses Ethernet, one or two VLAN tags, IPv4 or IPv6 (no extension
 * headers followed) and the TCP/UDP/SCTP destination port. Returns 0 for
 * an IP packet, -1 for anything else (which passes uncounted). */
static __always_inline int parse(void *data, void *end, struct pkt *k)
{
	struct ethhdr *eth = data;
	__u16 proto;
	void *l4p;
	__u8 ip_proto;

	if ((void *)(eth + 1) > end)
		return -1;
	proto = eth->h_proto;
	data = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			struct vlan_hdr *vh = data;

			if ((void *)(vh + 1) > end)
				return -1;
			proto = vh->h_vlan_encapsulated_proto;
			data = vh + 1;
		}
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end)
			return -1;
		k->s.family = k->d.family = FAMILY_V4;
		__builtin_memcpy(k->s.addr, &ip->saddr, 4);
		__builtin_memcpy(k->d.addr, &ip->daddr, 4);
		k->s.prefixlen = k->d.prefixlen = 8 + 32;
		ip_proto = ip->protocol;
		/* A fragment after the first has no L4 header. */
		if (ip->frag_off & bpf_htons(0x1FFF))
			l4p = NULL;
		else
			l4p = data + ip->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end)
			return -1;
		k->s.family = k->d.family = FAMILY_V6;
		__builtin_memcpy(k->s.addr, &ip6->saddr, 16);
		__builtin_memcpy(k->d.addr, &ip6->daddr, 16);
		k->s.prefixlen = k->d.prefixlen = 8 + 128;
		ip_proto = ip6->nexthdr;
		l4p = ip6 + 1;
	} else {
		return -1;
	}
	k->p.proto = ip_proto;
	k->p.prefixlen = 8;
	if (l4p && (ip_proto == IPPROTO_TCP || ip_proto == IPPROTO_UDP || ip_proto == IPPROTO_SCTP)) {
		/* The destination port is bytes 2-3 of all three headers. */
		__u8 *ports = l4p;

		if ((void *)(ports + 4) <= end) {
			k->p.port[0] = ports[2];
			k->p.port[1] = ports[3];
			k->p.prefixlen = 24;
		}
	}
	return 0;
}

/* The first rule in all three sets, or DEFAULT_SLOT. */
static __always_inline __u32 first_rule(struct pkt *k)
{
	struct mask *ms = bpf_map_lookup_elem(&src, &k->s);
	struct mask *md = bpf_map_lookup_elem(&dst, &k->d);
	struct mask *mp = bpf_map_lookup_elem(&l4, &k->p);

	if (!ms || !md || !mp)
		return DEFAULT_SLOT;
	for (int i = 0; i < MASK_WORDS; i++) {
		__u64 m = ms->w[i] & md->w[i] & mp->w[i];

		if (m)
			return i * 64 + lowest_bit(m);
	}
	return DEFAULT_SLOT;
}

/* True when the source is over its rate for rule idx. */
static __always_inline bool over_rate(struct rule *r, struct pkt *k)
{
	struct rl_key key = { .slot = r->slot, .family = k->s.family };
	__u64 now = bpf_ktime_get_ns();
	__u64 *tat;

	__builtin_memcpy(key.addr, k->s.addr, 16);
	tat = bpf_map_lookup_elem(&buckets, &key);
	if (!tat) {
		/* A new source: its first packet takes one token of a full bucket. */
		__u64 first = now + r->interval_ns;

		bpf_map_update_elem(&buckets, &key, &first, BPF_NOEXIST);
		return false;
	}
	for (int i = 0; i < 8; i++) {
		__u64 old = *(volatile __u64 *)tat;
		__u64 next = (old > now ? old : now) + r->interval_ns;

		if (next - now > r->tolerance_ns)
			return true;
		if (__sync_val_compare_and_swap(tat, old, next) == old)
			return false;
	}
	return false; /* contended past the retries: let it through */
}

/* The verdict for one packet: true to drop. */
static __always_inline bool verdict(void *data, void *end, __u64 len)
{
	struct pkt k = {};
	struct counter *c;
	struct rule *r;
	__u32 idx, slot;
	bool drop;

	if (parse(data, end, &k) < 0)
		return false;
	idx = first_rule(&k);
	if (idx < MAX_RULES) {
		r = bpf_map_lookup_elem(&rules, &idx);
		if (!r)
			return false;
		if (r->action == ACTION_DROP)
			drop = true;
		else if (r->action == ACTION_RATE_LIMIT)
			drop = over_rate(r, &k);
		else
			drop = false;
		slot = r->slot;
	} else {
		slot = DEFAULT_SLOT;
		drop = default_drop;
	}
	c = bpf_map_lookup_elem(&counters, &slot);
	if (c) {
		c->packets++;
		c->bytes += len;
		if (drop) {
			c->dropped++;
			c->dropped_bytes += len;
		}
	}
	return drop && !audit;
}

SEC("xdp")
int filter_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	return verdict(data, end, end - data) ? XDP_DROP : XDP_PASS;
}

/* TC_ACT_UNSPEC (TCX_NEXT) hands the packet on to the next program or
 * filter; TC_ACT_SHOT (TCX_DROP) drops it. */
SEC("tc")
int filter_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	return verdict(data, end, skb->len) ? TC_ACT_SHOT : TC_ACT_UNSPEC;
}
